"""A labelled dataset: pages (image + ``TruthPage``), the problems met importing them, splits.

Importers each read one annotation format and return ``(pages, problems)``: a file (or a
record inside one) that cannot be read becomes a ``Problem`` naming it and saying why, and
everything else still imports. ``Dataset.of`` merges importer results and assigns splits.

Splits are a function of the page's *document identity* alone: the SHA-256 of the document's
bytes, the rule the lake uses for ``doc_id``. So adding data never moves a page between
splits, the pages of one document always share a split, and the same image annotated in two
tools (or a crop and the page it was cut from) cannot land in train and test at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ocr_tasks.core.errors import CorruptInput
from ocr_tasks.core.geometry import Box, polygon_box
from ocr_tasks.io.storage import file_content_id
from ocr_tasks.truth import TruthPage, TruthSegment, TruthWord, parse_funsd

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_SALT = "ocr-datasets/split/v1"  # changing it reshuffles every split: never, in practice
KINDS = ("page", "crop")


@dataclass(frozen=True)
class Problem:
    """Something that did not import: the file (or URI) at fault and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class LabelledPage:
    """One labelled image: a page, or a ``crop`` (a recognition sample: one cropped line
    whose truth is its text only).

    ``image`` is a local path or a store URI; ``frame`` the page within it (PDF/TIFF pages,
    else 0); ``dpi`` the resolution whose pixel frame the boxes are in where the image has no
    pixels of its own (PDF sidecars), else None. ``document`` is the identity splits key on.
    """

    page_id: str
    image: str
    truth: TruthPage
    source: str
    document: str
    frame: int = 0
    dpi: float | None = None
    kind: str = "page"
    split: str = ""

    @property
    def text(self) -> str:
        """The page's reference characters: its counted words, else its text lines."""
        words = self.truth.counted_words
        return " ".join(w.text for w in words) if words else self.truth.text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; boxed truth as a FUNSD form (integer boxes, rounded outwards)."""
        truth: dict[str, Any] = ({"form": self.truth.to_funsd()["form"]} if self.truth.segments
                                 else {"lines": list(self.truth.lines)})
        truth.update(width=self.truth.width, height=self.truth.height)
        return {
            "page_id": self.page_id, "image": self.image, "frame": self.frame, "dpi": self.dpi,
            "kind": self.kind, "source": self.source, "document": self.document,
            "split": self.split, "truth": truth,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelledPage:
        raw = d["truth"]
        truth = (parse_funsd({"form": raw["form"]})[0] if "form" in raw
                 else TruthPage(lines=tuple(str(t) for t in raw.get("lines", []))))
        truth = replace(truth, width=int(raw.get("width", 0)), height=int(raw.get("height", 0)))
        return cls(d["page_id"], d["image"], truth, d["source"], d["document"],
                   int(d.get("frame", 0)), d.get("dpi"), d.get("kind", "page"),
                   d.get("split", ""))


Imported = tuple[list[LabelledPage], list[Problem]]


# --------------------------------------------------------------------------- identity, splits


def split_of(document: str, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """train/val/test for a document identity: its salted hash read as a number in [0, 1)
    against the cumulative ``fractions``. Depends on nothing else, hence stable."""
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or not sum(fractions):
        raise ValueError(f"fractions are {len(SPLITS)} non-negative shares, not {fractions}")
    digest = hashlib.sha256(f"{SPLIT_SALT}\0{document}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, share in zip(SPLITS, fractions, strict=True):
        edge += share / sum(fractions)
        if u < edge:
            return name
    return SPLITS[-1]


@dataclass(frozen=True)
class Dataset:
    """Labelled pages with their splits, and what did not import."""

    pages: tuple[LabelledPage, ...]
    problems: tuple[Problem, ...] = ()
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS

    @classmethod
    def of(cls, *imports: Imported,
           fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Dataset:
        """Merge importer results; every page gets its split."""
        pages = [replace(p, split=split_of(p.document, fractions))
                 for found, _ in imports for p in found]
        problems = [pr for _, found in imports for pr in found]
        return cls(tuple(pages), tuple(problems), fractions)

    def split(self, name: str) -> tuple[LabelledPage, ...]:
        return tuple(p for p in self.pages if p.split == name)


def write_pages(pages: Iterable[LabelledPage], path: str | Path) -> Path:
    """One JSON object a line (``LabelledPage.to_dict``): appendable, diffable, streamable."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for page in pages:
            f.write(json.dumps(page.to_dict(), ensure_ascii=False) + "\n")
    return out


def read_pages(path: str | Path) -> list[LabelledPage]:
    """The pages of a file written by :func:`write_pages`."""
    with Path(path).open(encoding="utf-8") as f:
        return [LabelledPage.from_dict(json.loads(line)) for line in f if line.strip()]


# --------------------------------------------------------------------------- importer helpers


ReadOne = Callable[[Path], Imported]


def annotation_files(path: str | Path, pattern: str) -> list[Path]:
    """``path`` itself when it is a file, else the files under it matching ``pattern``."""
    p = Path(path)
    return [p] if p.is_file() else sorted(f for f in p.rglob(pattern) if f.is_file())


def import_each(path: str | Path, pattern: str, read_one: ReadOne) -> Imported:
    """Run ``read_one`` on every annotation file; a file that fails is one problem, and the
    others still import. No file at all is a problem too (a wrong path is not an empty set)."""
    files = annotation_files(path, pattern)
    if not files:
        return [], [Problem(str(path), f"no annotation files ({pattern})")]
    pages: list[LabelledPage] = []
    problems: list[Problem] = []
    for f in files:
        try:
            found, trouble = read_one(f)
        except (CorruptInput, OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
            problems.append(Problem(str(f), why(e)))
            continue
        pages.extend(found)
        problems.extend(trouble)
    return pages, problems


def why(e: BaseException) -> str:
    """A problem's reason from the exception that stopped an import."""
    if isinstance(e, CorruptInput):
        return e.message
    if isinstance(e, KeyError):
        return f"missing {e}"
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text ({e.reason} at byte {e.start})"
    if isinstance(e, json.JSONDecodeError):
        return f"not JSON: {e}"
    return str(e) or type(e).__name__


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except ValueError as e:
        raise CorruptInput(f"not JSON: {e}") from e


class Images:
    """Finds annotated images on disk and remembers their identities (hashed once each)."""

    def __init__(self) -> None:
        self._ids: dict[Path, str] = {}

    def find(self, candidates: Iterable[Path]) -> Path | None:
        return next((c for c in candidates if c.is_file()), None)

    def identity(self, path: Path) -> str:
        if path not in self._ids:
            self._ids[path] = file_content_id(path)
        return self._ids[path]


def region_page(regions: Iterable[tuple[str, Box, str]], width: int = 0,
                height: int = 0) -> TruthPage:
    """A page of drawn regions ``(text, box, label)``: each region one segment holding one
    word-level unit (the box and text as the annotator drew them; empty text is don't-care)."""
    segments = tuple(
        TruthSegment(text, box, (TruthWord(text, box),), label or "other", i)
        for i, (text, box, label) in enumerate(regions)
    )
    return TruthPage(segments=segments, width=width, height=height)


def points_box(points: Iterable[Sequence[float]]) -> Box:
    """The bounds of a polygon given as (x, y) points: polygons become boxes."""
    pts = tuple((float(p[0]), float(p[1])) for p in points)
    if not pts:
        raise ValueError("a polygon without points")
    return polygon_box(pts)
