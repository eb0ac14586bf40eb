"""Training material from labelled pages: page images in memory, text crops, line polygons.

Pages are decoded once (``load_page``); the recognizer trains on word crops (cut exactly as
crop CER evaluation cuts them) and line crops (visual lines of a segment, with a margin like
the one DB's unclip leaves around detected lines); the detector trains on the line boxes,
with don't-care words as ignored regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr_tasks.core.config import LimitSettings
from ocr_tasks.core.errors import CorruptInput
from ocr_tasks.core.geometry import Box, union_box
from ocr_tasks.datasets import LabelledPage
from ocr_tasks.engine.preprocess import to_bgr
from ocr_tasks.evaluation.funsd import ScoredTruth, crop_box
from ocr_tasks.io.rasterize import PageFailure, iter_pages
from ocr_tasks.io.storage import open_store
from ocr_tasks.page_image import PageImage
from ocr_tasks.truth import TruthPage, TruthWord

LINE_MARGIN = 0.15  # line crop margin, in line heights (DB's unclip leaves about this much)


@dataclass(frozen=True)
class TrainPage(ScoredTruth):
    """A labelled page held in memory: what training and validation read."""

    page_id: str
    page: PageImage
    truth: TruthPage

    def load_image(self) -> PageImage:
        return self.page


@dataclass(frozen=True)
class TextCrop:
    """A recognizer sample: upright BGR pixels and their text."""

    image: np.ndarray
    text: str
    line: bool = False  # a line crop (several words), not a word crop


def load_page(page: LabelledPage, limits: LimitSettings | None = None) -> TrainPage:
    """Decode the page's image (local file or store URI, any format the pipeline reads; PDF
    pages at the dpi the boxes are in)."""
    limits = limits or LimitSettings()
    dpi = int(round(page.dpi)) if page.dpi else 200
    if "://" in page.image:
        root, _, key = page.image.rpartition("/")
        with open_store(root).local_path(key) as path:
            image = _frame(path, page, dpi, limits)
    else:
        image = _frame(Path(page.image), page, dpi, limits)
    return TrainPage(page.page_id, image, page.truth)


def _frame(path: Path, page: LabelledPage, dpi: int, limits: LimitSettings) -> PageImage:
    for found in iter_pages(path, dpi=dpi, limits=limits, start=page.frame,
                            stop=page.frame + 1, name=page.image):
        if isinstance(found, PageFailure):
            raise CorruptInput(f"{page.image}: page {page.frame}: {found.error.message}")
        return PageImage(to_bgr(found.image), index=0, dpi=found.dpi)
    raise CorruptInput(f"{page.image}: has no page {page.frame}")


def visual_lines(truth: TruthPage) -> list[tuple[str, Box]]:
    """Lines of text with their boxes: the counted words of each segment, cut where the next
    word does not sit beside the previous one (multi-line FUNSD entries)."""
    lines: list[tuple[str, Box]] = []
    for segment in truth.segments:
        words = [w for w in segment.words if not w.dontcare]
        group: list[TruthWord] = []
        for word in words:
            if group and not _beside(group, word):
                lines.append(_joined(group))
                group = []
            group.append(word)
        if group:
            lines.append(_joined(group))
    return lines


def _beside(group: list[TruthWord], word: TruthWord) -> bool:
    box = union_box(w.box for w in group)
    centre = (word.box[1] + word.box[3]) / 2
    return box[1] <= centre <= box[3] and word.box[0] >= group[-1].box[0]


def _joined(words: list[TruthWord]) -> tuple[str, Box]:
    """The words' text joined by spaces (FUNSD cuts "9/3/92" into "9/", "3/", "92" with
    touching boxes; measured: a space only at box gaps of > 0.2 word heights lost spaces the
    loose FUNSD boxes hide and made end-to-end CER worse)."""
    return " ".join(w.text for w in words), union_box(w.box for w in words)


def text_crops(page: TrainPage, *, lines: bool = True) -> list[TextCrop]:
    """Word crops (exact boxes) and, with ``lines``, line crops with a margin."""
    image = page.page.image
    crops = [TextCrop(crop_box(image, w.box), w.text) for w in page.counted_words]
    if lines:
        for text, box in visual_lines(page.truth):
            if " " not in text:
                continue  # a one-word line is its word crop again
            pad = LINE_MARGIN * (box[3] - box[1])
            grown = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
            crops.append(TextCrop(crop_box(image, grown), text, line=True))
    return [c for c in crops if c.image.size and min(c.image.shape[:2]) >= 4 and c.text]
