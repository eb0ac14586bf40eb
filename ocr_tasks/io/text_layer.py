"""A PDF page's own text layer: its words with boxes, and whether it can replace OCR.

Born-digital PDFs (and scans that already carry an exact text layer) need no OCR: PDFium
gives every character with its box, in the page's coordinates, which are mapped here onto
the pixels of the page as rendered, so a layer page's boxes lie where OCR boxes would.

The rule (``OCR_PDF_TEXT``, :func:`layer_page`):

* ``ocr``: every page is OCR'd (the layer is not even read).
* ``use``: a page whose layer has words is read from it, whatever else the page shows.
* ``auto`` (default): a page is read from its layer when the layer's words cover the page's
  ink (at least :data:`INK_COVERAGE` of the dark pixels lie in a word box), so a scan with a
  partial layer (a stamped header, a few OCR'd fields) is OCR'd whole, and a born-digital page
  with a logo or a signature image is OCR'd rather than losing the image's text.

A layer page is certain by definition (confidence 1.0) and carries the model name and version
:data:`LAYER_MODEL`, so its rows never mix with the OCR model's.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

import cv2
import numpy as np

from ocr_tasks.document import Line, Page, Word, box_polygon
from ocr_tasks.page_image import LayerWord, PageImage

LAYER_MODEL = "pdf-text-layer"
INK_COVERAGE = 0.9  # share of a page's dark pixels that must lie inside the layer's words
INK_LEVEL = 160  # gray below this is ink (page renders are clean: no scanner noise to skip)
_MARGIN_PT = 1.5  # a word box grows by this much before it is taken to cover ink (antialias)
_GROW = 0.15  # ... and by this share of its height (a scan's OCR layer is not glyph-exact)
_SUBPIXEL = 16  # PDFium maps to integer device pixels: map at 16x, divide back
_BREAKS = {"\r", "\n"}


def _device_transform(page: Any, width: int, height: int) -> np.ndarray:
    """The 2x3 affine map from PDF user space to pixels of the page rendered at
    ``width`` x ``height`` (crop box, /Rotate and flipped y included), from PDFium itself."""
    import pypdfium2.raw as pdfium_c

    w, h = width * _SUBPIXEL, height * _SUBPIXEL
    dx, dy = ctypes.c_int(), ctypes.c_int()
    src, dst = [], []
    for x, y in ((0.0, 0.0), (1000.0, 0.0), (0.0, 1000.0)):
        pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, w, h, 0, x, y,
                                   ctypes.byref(dx), ctypes.byref(dy))
        src.append((x, y))
        dst.append((dx.value / _SUBPIXEL, dy.value / _SUBPIXEL))
    return np.asarray(cv2.getAffineTransform(np.asarray(src, np.float32),
                                             np.asarray(dst, np.float32)), np.float64)


def extract_words(page: Any, width: int, height: int) -> tuple[LayerWord, ...]:
    """Words of an open PDFium page (``pypdfium2.PdfPage``), boxes in pixels of its render
    at ``width`` x ``height``. The caller holds PDFium's lock. Words break at white space,
    lines at PDFium's line breaks (generated from the text's positions); characters whose
    centre lies off the rendered page are not words of it (nobody sees them)."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        n = textpage.count_chars()
        if n <= 0:
            return ()
        m = _device_transform(page, width, height)
        raw = textpage.raw
        left, right = ctypes.c_double(), ctypes.c_double()
        bottom, top = ctypes.c_double(), ctypes.c_double()
        words: list[LayerWord] = []
        chars: list[str] = []
        box: list[float] = []
        line = 0

        def close() -> None:
            if chars and box:
                words.append(LayerWord("".join(chars), _pixel_box(m, box), line))
            chars.clear()
            box.clear()

        for i in range(n):
            ch = chr(pdfium_c.FPDFText_GetUnicode(raw, i) or 32)
            if ch in _BREAKS or ch.isspace():
                close()
                if ch in _BREAKS and words and words[-1].line == line:
                    line += 1
                continue
            if not pdfium_c.FPDFText_GetCharBox(raw, i, ctypes.byref(left), ctypes.byref(right),
                                                ctypes.byref(bottom), ctypes.byref(top)):
                continue
            cx, cy = m @ ((left.value + right.value) / 2, (bottom.value + top.value) / 2, 1.0)
            if not (0 <= cx < width and 0 <= cy < height):  # off the page: never seen
                close()
                continue
            chars.append(ch)
            if box:
                box[:] = [min(box[0], left.value), min(box[1], bottom.value),
                          max(box[2], right.value), max(box[3], top.value)]
            else:
                box[:] = [left.value, bottom.value, right.value, top.value]
        close()
        return tuple(words)
    finally:
        textpage.close()


def _pixel_box(m: np.ndarray, box: list[float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x0, y1, 1.0], [x1, y1, 1.0]])
    pts = corners @ m.T
    return (float(pts[:, 0].min()), float(pts[:, 1].min()),
            float(pts[:, 0].max()), float(pts[:, 1].max()))


def ink_coverage(image: np.ndarray, words: tuple[LayerWord, ...], dpi: float | None) -> float:
    """Share of the page's ink (dark pixels) inside the layer's word boxes, each grown by
    1.5 pt and 15 % of its height; 1.0 for a page with no ink at all."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ink = gray < INK_LEVEL
    total = int(np.count_nonzero(ink))
    if total == 0:
        return 1.0
    pad = _MARGIN_PT * (dpi or 72.0) / 72.0
    covered = np.zeros_like(ink)
    h, w = ink.shape
    for word in words:
        x0, y0, x1, y1 = word.box
        grow = _GROW * (y1 - y0)  # an invisible layer's glyphs need not match the scan's ink
        c0, r0 = max(0, int(x0 - pad - grow)), max(0, int(y0 - pad - grow))
        c1 = min(w, int(np.ceil(x1 + pad + grow)))
        r1 = min(h, int(np.ceil(y1 + pad + grow)))
        covered[r0:r1, c0:c1] = True
    return int(np.count_nonzero(ink & covered)) / total


def layer_page(image: PageImage, mode: str, raster_s: float = 0.0) -> Page | None:
    """The page read from its text layer, or None when it must be OCR'd (see the module's
    rule). ``raster_s`` is the time rendering and reading the layer took."""
    words = image.text_layer
    if mode == "ocr" or not words:
        return None
    t0 = time.perf_counter()
    if mode == "auto" and ink_coverage(image.image, words, image.dpi) < INK_COVERAGE:
        return None
    lines = []
    for number in sorted({w.line for w in words}):
        members = [w for w in words if w.line == number]
        out = tuple(Word(w.text, 1.0, box_polygon(w.box)) for w in members)
        box = (min(w.box[0] for w in members), min(w.box[1] for w in members),
               max(w.box[2] for w in members), max(w.box[3] for w in members))
        lines.append(Line(" ".join(w.text for w in members), 1.0, box_polygon(box), out))
    timings = {"rasterize": raster_s, "text_layer": time.perf_counter() - t0}
    return Page(image.index, image.width, image.height, image.dpi, tuple(lines),
                model_name=LAYER_MODEL, model_version=LAYER_MODEL, timings=timings,
                has_ink=True, text_source="pdf")
