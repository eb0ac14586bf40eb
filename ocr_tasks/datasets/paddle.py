"""PaddleOCR label files, as PPOCRLabel writes them.

* Detection, ``Label.txt`` (in the image folder): one image a line, ``<dir>/<image>`` TAB a
  JSON list of ``{"transcription": str, "points": [[x, y] x 4], "difficult": bool}``; the
  image path is relative to the folder above the one holding the file. ``"###"`` (PaddleOCR's
  illegible mark) and ``difficult`` boxes are don't-care. Quadrilaterals become boxes.
* Recognition, ``rec_gt.txt``: one crop a line, ``crop_img/<image>_crop_<n>.jpg`` TAB its
  text, relative to the file's folder: crop-level samples. A crop belongs to the document of
  the page it was cut from when that page is in a ``Label.txt`` beside it (so crop and page
  share a split); else to its own.

A malformed line is one problem (file and line number); the other lines still import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from ocr_tasks.core.errors import CorruptInput
from ocr_tasks.core.geometry import Box
from ocr_tasks.datasets.model import (
    Images,
    Imported,
    LabelledPage,
    Problem,
    import_each,
    points_box,
    region_page,
    why,
)
from ocr_tasks.truth import TruthPage

DET_SOURCE = "paddle-det"
REC_SOURCE = "paddle-rec"
ILLEGIBLE = "###"


def _lines(file: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line number, path, rest) of each non-empty line; rest is None without a TAB."""
    text = file.read_bytes().decode("utf-8-sig")
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            path, tab, rest = line.partition("\t")
            yield number, path.strip(), rest if tab else None


def _each_line(file: Path, read: Callable[[str, str], LabelledPage]) -> Imported:
    """``read(path, label)`` on every line; a bad line is a problem, a file with no
    ``path TAB label`` line at all is not a label file (raised)."""
    pages: list[LabelledPage] = []
    problems: list[Problem] = []
    tabbed = 0
    for number, image, rest in _lines(file):
        try:
            if rest is None:
                raise ValueError("no TAB between image path and label")
            tabbed += 1
            pages.append(read(image, rest))
        except (CorruptInput, KeyError, TypeError, ValueError) as e:
            problems.append(Problem(str(file), f"line {number}: {why(e)}"))
    if problems and not tabbed:
        raise CorruptInput("not a PaddleOCR label file: no line is 'image path TAB label'")
    return pages, problems


def _det_regions(label: str) -> list[tuple[str, Box, str]]:
    items = json.loads(label)
    if not isinstance(items, list):
        raise ValueError("the label is a JSON list of {transcription, points}")
    regions = []
    for item in items:
        text = str(item["transcription"])
        if text == ILLEGIBLE or item.get("difficult"):
            text = ""
        regions.append((text, points_box(item["points"]), ""))
    return regions


def import_paddle_det(path: str | Path, *, image_root: str | Path | None = None) -> Imported:
    """Every ``Label.txt`` at ``path`` (the file, or a folder searched for them)."""
    images = Images()

    def read_one(file: Path) -> Imported:
        root = Path(image_root) if image_root is not None else file.parent.parent

        def read(name: str, label: str) -> LabelledPage:
            image = images.find([root / name, file.parent / PurePosixPath(name).name])
            if image is None:
                raise ValueError(f"image {name} not found under {root}")
            return LabelledPage(f"{DET_SOURCE}:{name}", str(image),
                                region_page(_det_regions(label)), DET_SOURCE,
                                images.identity(image))

        return _each_line(file, read)

    return import_each(path, "Label.txt", read_one)


def _page_images(folder: Path) -> dict[str, Path]:
    """Stem -> page image of the ``Label.txt`` beside a ``rec_gt.txt`` (none: empty)."""
    label = folder / "Label.txt"
    if not label.is_file():
        return {}
    try:
        return {PurePosixPath(name).stem: folder.parent / name for _, name, _ in _lines(label)}
    except (OSError, UnicodeDecodeError):
        return {}


def import_paddle_rec(path: str | Path, *, image_root: str | Path | None = None) -> Imported:
    """Every ``rec_gt.txt`` at ``path`` (the file, or a folder searched for them)."""
    images = Images()

    def read_one(file: Path) -> Imported:
        root = Path(image_root) if image_root is not None else file.parent
        pages_of = _page_images(file.parent)

        def read(name: str, text: str) -> LabelledPage:
            image = images.find([root / name])
            if image is None:
                raise ValueError(f"crop {name} not found under {root}")
            stem = PurePosixPath(name).stem.rpartition("_crop_")[0]
            page = pages_of.get(stem)
            document = images.identity(page if page and page.is_file() else image)
            return LabelledPage(f"{REC_SOURCE}:{name}", str(image),
                                TruthPage(lines=tuple(t for t in (text.strip(),) if t)),
                                REC_SOURCE, document,
                                kind="crop")

        return _each_line(file, read)

    return import_each(path, "rec_gt.txt", read_one)
