"""Ground truth of pages: the one type for what a page says, and its file formats.

Every source of truth lands in ``TruthPage``: customers' sidecars, returned audit
transcriptions, the FUNSD dataset, labelled datasets and the pages the synthesizer renders.
A page holds either text lines only (a ``.gt.txt``) or boxed segments, each with its words
(FUNSD: a segment is one form entry, e.g. a field label, a value, a table cell or a line of a
paragraph). Geometry is in pixels of the page image as delivered (``core.geometry``).

This module also owns the two formats and where truth files live:

* ``.gt.txt``: each page's text, one visual line per line, pages separated by a form feed.
* FUNSD JSON (``.gt.json``): ``{"form": [...]}`` for one page, or
  ``{"pages": [{"form": [...]}, ...]}`` for several (our multi-page extension).
* Sidecars: ``NAME.ext`` has its truth in ``NAME.gt.json`` and/or ``NAME.gt.txt`` beside it
  (the JSON preferred); a PDF's boxes are in the frame of its pages rendered at
  ``SIDECAR_PDF_DPI``.
* FUNSD folders: ``annotations/<id>.json`` with ``images/<id>.png`` (or another image type).
* Audit transcriptions: the page image ``_audit/pending/<batch>/<doc>-p<page>.png`` (with its
  prediction in ``.json``) is answered by ``_audit/returned/<batch>/<doc>-p<page>.gt.txt`` or
  ``.gt.json``, in the PNG's pixel frame.

Data-model layer: imports only ``core`` (and ``document`` re-exports of it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ocr_tasks.core.errors import CorruptInput, InputError
from ocr_tasks.core.geometry import Box, transform_boxes, turn_of, union_box

TXT_SUFFIX = ".gt.txt"
JSON_SUFFIX = ".gt.json"
SIDECAR_SUFFIXES = (TXT_SUFFIX, JSON_SUFFIX)
# The sample generator (and the customers' tooling it imitates) annotates PDF pages rendered
# at this resolution; boxes are rescaled when a page is rendered at another dpi.
SIDECAR_PDF_DPI = 200.0
AUDIT_PENDING = "_audit/pending"
AUDIT_RETURNED = "_audit/returned"
FUNSD_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

Boxed = tuple[str, Box]


class TruthWord(NamedTuple):
    """A word and its box. A named tuple, so it also *is* the ``(text, box)`` pair that
    alignment and scoring take."""

    text: str
    box: Box

    @property
    def dontcare(self) -> bool:
        """Empty words (logos, signatures, rules) are neither truth nor errors."""
        return not self.text.strip()


@dataclass(frozen=True)
class TruthSegment:
    """One annotated unit (a FUNSD entry) and its words.

    ``row`` numbers the visual line the segment sits on where it is known exactly (pages we
    rendered); ``None`` where it is not (annotations from elsewhere).
    """

    text: str
    box: Box
    words: tuple[TruthWord, ...] = ()
    label: str = "other"
    id: int = 0
    row: int | None = None


@dataclass(frozen=True)
class TruthPage:
    """What one page says, in its pixel frame.

    ``lines`` is text-only truth (a ``.gt.txt`` page); ``segments`` is boxed truth. Width and
    height are 0 where the source does not state them (FUNSD, sidecars). ``links`` are FUNSD
    (question id, answer id) pairs. ``turned`` is how far the pixels are turned from the
    text's upright frame (0, 90, 180, 270 degrees clockwise: a page fed sideways or upside
    down), so that a row still reads in its own direction (``transformed`` sets it).
    """

    lines: tuple[str, ...] = ()
    segments: tuple[TruthSegment, ...] = ()
    width: int = 0
    height: int = 0
    links: tuple[tuple[int, int], ...] = ()
    turned: int = 0

    # --- views ---------------------------------------------------------------------------

    @property
    def has_boxes(self) -> bool:
        """Whether the page has boxed text to align by position (else by content)."""
        return any(s.text for s in self.segments)

    @property
    def boxed_segments(self) -> tuple[Boxed, ...]:
        """``(text, box)`` of the segments that have text."""
        return tuple((s.text, s.box) for s in self.segments if s.text)

    @property
    def words(self) -> tuple[TruthWord, ...]:
        """Every word, don't-care ones included, in segment order."""
        return tuple(w for s in self.segments for w in s.words)

    @property
    def counted_words(self) -> tuple[TruthWord, ...]:
        return tuple(w for w in self.words if not w.dontcare)

    @property
    def dontcare_words(self) -> tuple[TruthWord, ...]:
        return tuple(w for w in self.words if w.dontcare)

    def _rows(self) -> list[list[TruthSegment]]:
        """Segments grouped by ``row`` (a segment without one is a row of its own), rows in
        the order they were first written (lowest id), each read left to right."""
        rows: dict[object, list[TruthSegment]] = {}
        for i, seg in enumerate(self.segments):
            rows.setdefault(seg.row if seg.row is not None else ("segment", i), []).append(seg)
        ordered = sorted(rows.values(), key=lambda segs: min(s.id for s in segs))
        return [sorted(segs, key=self._along_row) for segs in ordered]

    def _along_row(self, seg: TruthSegment) -> float:
        """Where a segment starts along its row, in the row's reading direction."""
        x0, y0, x1, y1 = seg.box
        return {0: x0, 90: y0, 180: -x1, 270: -y1}[self.turned % 360]

    def reading_lines(self) -> list[Boxed]:
        """Visual lines in reading order: the segments of one row joined left to right."""
        return [(" ".join(s.text for s in row), union_box(s.box for s in row))
                for row in self._rows()]

    def reading_words(self) -> list[TruthWord]:
        """Words in reading order (line by line, left to right)."""
        return [w for row in self._rows() for s in row for w in s.words]

    @property
    def text(self) -> str:
        """The page text, one visual line per line: what a ``.gt.txt`` page holds."""
        if self.segments:
            return "\n".join(text for text, _ in self.reading_lines() if text)
        return "\n".join(self.lines)

    # --- derived pages -------------------------------------------------------------------

    def as_lines(self) -> TruthPage:
        """The same truth with each visual line as one segment holding its words: rendered
        pages know their lines exactly, so scoring need not guess them from boxes."""
        segments = tuple(
            TruthSegment(" ".join(s.text for s in row), union_box(s.box for s in row),
                         tuple(w for s in row for w in s.words), "other", i, i)
            for i, row in enumerate(self._rows())
        )
        return TruthPage(segments=segments, width=self.width, height=self.height,
                         turned=self.turned)

    def _map_boxes(self, moved: Iterable[Box]) -> tuple[TruthSegment, ...]:
        """Segments with their boxes, then all their words' boxes, replaced in order."""
        it = iter(moved)
        seg_boxes = [next(it) for _ in self.segments]
        return tuple(
            replace(s, box=box, words=tuple(TruthWord(w.text, next(it)) for w in s.words))
            for s, box in zip(self.segments, seg_boxes, strict=True)
        )

    def _boxes(self) -> list[Box]:
        return [s.box for s in self.segments] + [w.box for s in self.segments for w in s.words]

    def scaled(self, factor: float) -> TruthPage:
        """The same truth for the page image scaled by ``factor`` (e.g. rendered at another
        dpi than the annotator's)."""
        if factor == 1.0:
            return self
        moved = [(b[0] * factor, b[1] * factor, b[2] * factor, b[3] * factor)
                 for b in self._boxes()]
        return replace(self, segments=self._map_boxes(moved),
                       width=round(self.width * factor), height=round(self.height * factor))

    def transformed(self, matrix: np.ndarray, width: int, height: int) -> TruthPage:
        """The same truth after the page pixels went through ``matrix`` (forward 3x3) into a
        ``width`` x ``height`` image (rotation, skew, perspective, scaling); boxes are the
        bounds of their moved corners, clipped to the image."""
        boxes = self._boxes()
        if not boxes:
            return replace(self, width=width, height=height)
        moved = [tuple(row) for row in
                 transform_boxes(np.array(boxes), matrix, clip_to=(width, height)).tolist()]
        x0, y0, x1, y1 = (0, 0, self.width, self.height) if self.width and self.height \
            else union_box(boxes)
        turn = turn_of(matrix, ((x0 + x1) / 2, (y0 + y1) / 2))
        return replace(self, segments=self._map_boxes(moved),  # type: ignore[arg-type]
                       width=width, height=height, turned=(self.turned + turn) % 360)

    # --- FUNSD ---------------------------------------------------------------------------

    def to_funsd(self) -> dict[str, Any]:
        """The FUNSD annotation dict (``{"form": [...]}``) with question->answer links."""
        linked: dict[int, list[list[int]]] = {}
        for q, a in self.links:
            linked.setdefault(q, []).append([q, a])
            linked.setdefault(a, []).append([q, a])
        return {
            "form": [
                {
                    "box": _round_box(s.box),
                    "text": s.text,
                    "label": s.label,
                    "words": [{"box": _round_box(w.box), "text": w.text} for w in s.words],
                    "id": s.id,
                    "linking": linked.get(s.id, []),
                }
                for s in self.segments
            ]
        }

    @classmethod
    def from_funsd(cls, form: Any) -> TruthPage:
        """A page from a FUNSD ``{"form": [...]}`` dict (or the bare entry list).

        Raises ``CorruptInput`` naming the entry at fault."""
        entries = form.get("form") if isinstance(form, Mapping) else form
        if not isinstance(entries, list):
            raise CorruptInput('FUNSD page has no "form" list')
        segments: list[TruthSegment] = []
        links: dict[tuple[int, int], None] = {}  # ordered set
        for i, entry in enumerate(entries):
            try:
                seg = _funsd_segment(entry, i)
                for pair in entry.get("linking") or []:
                    q, a = (int(v) for v in pair)
                    links[(q, a)] = None
            except (KeyError, TypeError, ValueError) as e:
                raise CorruptInput(f"FUNSD entry {i}: {_reason(e)}") from e
            if seg is not None:
                segments.append(seg)
        return cls(segments=tuple(segments), links=tuple(links))


def _reason(e: BaseException) -> str:
    return f"missing {e}" if isinstance(e, KeyError) else str(e)


def _round_box(box: Box) -> list[int]:
    """FUNSD stores integer pixel boxes; round outwards so the box still holds the ink."""
    x0, y0, x1, y1 = box
    return [int(math.floor(x0)), int(math.floor(y0)), int(math.ceil(x1)), int(math.ceil(y1))]


def parse_box(raw: Any) -> Box:
    """(x0, y0, x1, y1) from four numbers, corners put in order; ValueError otherwise."""
    values = [float(v) for v in raw]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"a box is four finite numbers, not {raw!r}")
    x0, y0, x1, y1 = values
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _funsd_segment(entry: Any, index: int) -> TruthSegment | None:
    if not isinstance(entry, Mapping):
        raise TypeError(f"an entry is an object, not {type(entry).__name__}")
    text = str(entry.get("text") or "").strip()
    words = tuple(TruthWord(str(w.get("text") or ""), parse_box(w["box"]))
                  for w in entry.get("words") or [])
    if "box" in entry:
        box = parse_box(entry["box"])
    elif words:
        box = union_box(w.box for w in words)
    elif text:
        raise KeyError("box")
    else:
        return None  # nothing said, nowhere: not an entry
    label = str(entry.get("label") or "other")
    return TruthSegment(text, box, words, label, int(entry.get("id", index)))


def parse_funsd(data: bytes | str | Mapping[str, Any]) -> list[TruthPage]:
    """One page per page of a FUNSD annotation: a single ``form``, or a ``pages`` list.

    Raises ``CorruptInput`` with the reason when the data is not such an annotation."""
    doc: Any = data
    if isinstance(data, bytes | str):
        try:
            doc = json.loads(data.decode("utf-8-sig") if isinstance(data, bytes) else data)
        except ValueError as e:  # UnicodeDecodeError and JSONDecodeError included
            raise CorruptInput(f"not JSON: {e}") from e
    if not isinstance(doc, Mapping):
        raise CorruptInput(f"a FUNSD annotation is a JSON object, not {type(doc).__name__}")
    if "pages" in doc:
        pages = doc["pages"]
        if not isinstance(pages, list):
            raise CorruptInput('"pages" is not a list')
        out = []
        for n, page in enumerate(pages):
            try:
                out.append(TruthPage.from_funsd(page))
            except CorruptInput as e:
                raise CorruptInput(f"page {n}: {e.message}") from e
        return out
    if "form" not in doc:
        raise CorruptInput('a FUNSD annotation has "form" or "pages"')
    return [TruthPage.from_funsd(doc)]


def funsd_folder(root: str | Path) -> Iterator[tuple[Path, Path | None]]:
    """(annotation, image or None when missing) of a FUNSD folder, sorted by id.

    Raises ``InputError`` when ``root`` is not one."""
    base = Path(root)
    ann_dir, img_dir = base / "annotations", base / "images"
    if not ann_dir.is_dir() or not img_dir.is_dir():
        raise InputError(f"{base} is not a FUNSD folder: expected annotations/ and images/ in it")
    for ann in sorted(ann_dir.glob("*.json")):
        candidates = (img_dir / f"{ann.stem}{s}" for s in FUNSD_IMAGE_SUFFIXES)
        yield ann, next((c for c in candidates if c.is_file()), None)


def dump_funsd(pages: Sequence[TruthPage]) -> str:
    """FUNSD JSON of one page (``{"form"}``) or several (``{"pages"}``), one entry per line:
    diffable, and a third of the size of indented JSON."""

    def form(page: TruthPage) -> str:
        entries = ",\n".join(json.dumps(e, ensure_ascii=False) for e in page.to_funsd()["form"])
        return '{"form": [\n' + entries + "\n]}"

    forms = [form(p) for p in pages]
    body = forms[0] if len(forms) == 1 else '{"pages": [\n' + ",\n".join(forms) + "\n]}"
    return body + "\n"


# --- .gt.txt ----------------------------------------------------------------------------


def parse_txt(data: bytes | str) -> list[TruthPage]:
    """Pages split at form feeds; empty lines carry no text and are dropped."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise CorruptInput(f"not UTF-8 text: {e}") from e
    pages = text.replace("\r\n", "\n").split("\f")
    if len(pages) > 1 and not pages[-1].strip():
        pages = pages[:-1]  # a trailing form feed ends the last page, it does not start one
    return [TruthPage(lines=tuple(ln.strip() for ln in p.split("\n") if ln.strip())) for p in pages]


def dump_txt(pages: Sequence[TruthPage]) -> str:
    """The ``.gt.txt`` text of a document: page texts joined by form feeds."""
    return "\f".join(p.text for p in pages) + "\n"


# --- sidecar naming ---------------------------------------------------------------------


def sidecar_keys(doc_key: str) -> tuple[str, str]:
    """(json key, txt key) of a document: ``a/b/claim.pdf`` -> ``a/b/claim.gt.json`` ..."""
    folder, _, name = doc_key.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    base = f"{folder}/{stem}" if folder else stem
    return base + JSON_SUFFIX, base + TXT_SUFFIX


def is_sidecar(key: str) -> bool:
    return key.endswith(SIDECAR_SUFFIXES)


def parse_truth_file(key: str, data: bytes) -> list[TruthPage]:
    """The pages of a truth file, by its suffix (``.gt.json`` or ``.gt.txt``)."""
    if key.endswith(JSON_SUFFIX):
        return parse_funsd(data)
    if key.endswith(TXT_SUFFIX):
        return parse_txt(data)
    raise CorruptInput(f"not a truth file (expected {' or '.join(SIDECAR_SUFFIXES)}): {key}")


def preferred_truth_keys(keys: Iterable[str]) -> list[str]:
    """The truth files among ``keys``, sorted, the JSON one where a name has both."""
    keys = sorted(keys)
    json_stems = {k[: -len(JSON_SUFFIX)] for k in keys if k.endswith(JSON_SUFFIX)}
    return [k for k in keys if k.endswith(JSON_SUFFIX)
            or (k.endswith(TXT_SUFFIX) and k[: -len(TXT_SUFFIX)] not in json_stems)]


# --- audit transcriptions ---------------------------------------------------------------


def audit_page_name(doc_id: str, page: int) -> str:
    return f"{doc_id}-p{page}"


def audit_pending_base(returned_key: str) -> str:
    """``_audit/returned/b/x.gt.json`` -> ``_audit/pending/b/x``: add ``.png`` for the page
    image, ``.json`` for its prediction."""
    suffix = JSON_SUFFIX if returned_key.endswith(JSON_SUFFIX) else TXT_SUFFIX
    if not returned_key.startswith(AUDIT_RETURNED + "/") or not returned_key.endswith(suffix):
        raise ValueError(f"not a returned audit transcription: {returned_key}")
    return f"{AUDIT_PENDING}/{returned_key[len(AUDIT_RETURNED) + 1: -len(suffix)]}"
