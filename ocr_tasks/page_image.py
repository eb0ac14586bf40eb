"""A rasterized page on its way into the engine (pixels, not yet text)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerWord:
    """A word of a PDF page's own text layer, in pixels of the rendered page (top-left
    origin, like every box of the output tree); ``line`` numbers its line in reading order."""

    text: str
    box: tuple[float, float, float, float]
    line: int


@dataclass(frozen=True, eq=False)
class PageImage:
    """``image`` is HxWx3 uint8 BGR (OpenCV order) or HxW uint8 grayscale.

    ``index`` is the 0-based page number within its document; ``dpi`` is the render
    resolution for PDFs, the file's stated resolution for images (None when unknown).
    ``text_layer`` holds the words of a PDF page's text layer when it was asked for (None:
    not read, or not a PDF; empty: the page has no text layer).
    """

    image: np.ndarray
    index: int = 0
    dpi: float | None = None
    text_layer: tuple[LayerWord, ...] | None = None

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
