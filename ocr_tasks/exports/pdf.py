"""Searchable PDF/A-2b: each page's image with an invisible, word-positioned text layer.

Measured against the alternatives (README, "Exports"): OCRmyPDF's fpdf2 text-layer renderer
places each word of our output tree in its box, in text render mode 3 (invisible), with an
embedded font (NotoSans for Latin text, OCRmyPDF's glyphless Occulta for other scripts), and
pikepdf's PDF/A module declares, writes and validates PDF/A-2b without Ghostscript. The page
image is drawn over the text, as a JPEG passed through unchanged; the page size is the
image's at its dpi, so the text layer's boxes lie on the words of the image.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from ocr_tasks.document import Document, Page

JPEG_QUALITY = 80
ASSUMED_DPI = 300.0  # an image that states no resolution is printed at this size
PDFA = "2b"
MIN_GAP = 0.25  # of the line height: the least gap extractors read as a space


def page_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """A page image (BGR or gray) as the JPEG the PDF embeds; gray pages stay gray
    (a third of the bytes)."""
    if image.ndim == 3 and (np.array_equal(image[:, :, 0], image[:, :, 1])
                            and np.array_equal(image[:, :, 1], image[:, :, 2])):
        image = image[:, :, 0]
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("page image cannot be encoded as JPEG")
    return data.tobytes()


@lru_cache(maxsize=1)
def _fonts() -> Any:
    """OCRmyPDF's font manager over its bundled fonts only (no search of system fonts: the
    same text gives the same PDF on every worker)."""
    from ocrmypdf.font import MultiFontManager
    from ocrmypdf.font.font_provider import BuiltinFontProvider

    # Its warning for text without a bundled glyph ('□', CJK) advises installing fonts: the
    # word is in the glyphless font, searchable and copyable, and nobody sees invisible text.
    logging.getLogger("ocrmypdf.font.multi_font_manager").setLevel(logging.ERROR)
    return MultiFontManager(font_provider=BuiltinFontProvider())


def _spaced(boxes: list[tuple[float, float, float, float]]
            ) -> list[tuple[float, float, float, float]]:
    """Word boxes of one line with a visible gap between neighbours: ink-fitted boxes of
    words set tight can touch, and text extractors (poppler, pdf.js) then join the words
    ("HarbourRoad") whatever space character lies between them. A word that runs into the
    next is narrowed to leave :data:`MIN_GAP` of the line's height; it stays on its ink."""
    out = list(boxes)
    for i in range(len(out) - 1):
        x0, y0, x1, y1 = out[i]
        nx0 = out[i + 1][0]
        gap = MIN_GAP * max(y1 - y0, out[i + 1][3] - out[i + 1][1])
        if nx0 > x0 and nx0 - x1 < gap:
            out[i] = (x0, y0, max(x0 + (x1 - x0) / 2, nx0 - gap), y1)
    return out


def _tree(page: Page, dpi: float) -> Any:
    from ocrmypdf.models.ocr_element import BoundingBox, OcrClass, OcrElement

    def bbox(box: tuple[float, float, float, float]) -> BoundingBox:
        x0 = min(max(box[0], 0.0), page.width)
        y0 = min(max(box[1], 0.0), page.height)
        return BoundingBox(x0, y0, max(x0 + 0.5, min(box[2], page.width)),
                           max(y0 + 0.5, min(box[3], page.height)))

    lines = []
    for line in page.lines:
        boxes = _spaced([w.box for w in line.words if w.text])
        words = [OcrElement(ocr_class=OcrClass.WORD, bbox=bbox(box), text=w.text,
                            confidence=float(w.confidence))
                 for w, box in zip([w for w in line.words if w.text], boxes, strict=True)]
        if words:
            lines.append(OcrElement(ocr_class=OcrClass.LINE, bbox=bbox(line.box),
                                    children=words))
    return OcrElement(ocr_class=OcrClass.PAGE, bbox=BoundingBox(0, 0, page.width, page.height),
                      children=lines, dpi=dpi)


def to_pdf(document: Document, images: Mapping[int, bytes]) -> bytes:
    """The searchable PDF/A-2b of the document's pages that have an image, in page order.
    Raises ``pikepdf.pdfa.PdfaError`` if what was written does not validate as PDF/A-2b."""
    import pikepdf
    import pikepdf.pdfa
    from fpdf import FPDF
    from fpdf.enums import TextMode
    from ocrmypdf.fpdf_renderer import Fpdf2PdfRenderer

    pdf = FPDF(unit="pt")
    pdf.set_auto_page_break(auto=False)
    pdf.set_text_shaping(True)
    pdf.c_margin = 0
    pdf.text_mode = TextMode.INVISIBLE
    pdf.set_title(document.source)
    pdf.set_creator("ocr-pipeline")
    registered: dict[str, str] = {}
    pages = [p for p in sorted(document.pages, key=lambda p: p.index) if p.index in images]
    if not pages:
        raise ValueError(f"{document.source}: no page images for a PDF")
    for page in pages:
        dpi = float(page.dpi or ASSUMED_DPI)
        renderer = Fpdf2PdfRenderer(page=_tree(page, dpi), dpi=dpi,
                                    multi_font_manager=_fonts(), invisible_text=True)
        renderer._registered_fonts = registered  # one embedded font per document
        renderer.render_to_pdf(pdf)  # adds the page and its invisible words
        size = renderer.coord_transform
        pdf.image(io.BytesIO(images[page.index]), x=0, y=0,
                  w=size.page_width_pt, h=size.page_height_pt)
    with pikepdf.open(io.BytesIO(bytes(pdf.output()))) as doc:
        for key in ("/OpenAction", "/PageLayout", "/PageMode"):  # viewer hints PDF/A refuses
            if key in doc.Root:
                del doc.Root[key]
        out = io.BytesIO()
        pikepdf.pdfa.save(doc, out, PDFA, output_intent="sRGB")
    return out.getvalue()
