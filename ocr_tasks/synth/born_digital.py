"""PDFs with a real text layer: born-digital pages, and scans with a partial layer.

Archives mix scans with PDFs written by software (invoices, letters, statements) whose text
layer is exact, and with scans someone stamped or annotated digitally. These writers make
both, with an embedded TrueType font, so the pipeline's born-digital path
(``io.text_layer``) is tested and measured on PDFs a PDF library really wrote.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ocr_tasks.synth.fonts import CORE_FACES, MATPLOTLIB_TTF_DIR

PDF_DATE = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
A4_PT = (595.28, 841.89)
MARGIN_PT = 56.0


def _pdf(font_pt: float) -> Any:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=A4_PT)
    pdf.set_auto_page_break(auto=False)
    pdf.set_creation_date(PDF_DATE)  # reproducible bytes
    pdf.add_font("body", fname=str(MATPLOTLIB_TTF_DIR / CORE_FACES["sans"]))
    pdf.set_font("body", size=font_pt)
    return pdf


def _wrapped(pdf: Any, line: str, width: float) -> list[str]:
    out: list[str] = []
    for word in line.split(" "):
        if out and pdf.get_string_width(f"{out[-1]} {word}") <= width:
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    return out or [""]


def write_born_digital_pdf(path: Path, pages: list[list[str]], font_pt: float = 11.0) -> None:
    """A text PDF: each page's lines top-down at ``font_pt`` with 1.45 line spacing, wrapped
    at the margin (blank lines skip a line; what does not fit the page is left out). Every
    glyph is real text in the layer."""
    pdf = _pdf(font_pt)
    width = A4_PT[0] - 2 * MARGIN_PT
    for lines in pages:
        pdf.add_page()
        y = MARGIN_PT + font_pt
        for line in (part for text in lines for part in _wrapped(pdf, text, width)):
            if y > A4_PT[1] - MARGIN_PT:
                break
            if line:
                pdf.text(MARGIN_PT, y, line)
            y += font_pt * 1.45
    pdf.output(str(path))


def write_scan_with_layer(path: Path, scans: list[np.ndarray], dpi: int, stamp: str,
                          font_pt: float = 9.0) -> None:
    """Scanned pages (gray or BGR pixels at ``dpi``) with one line of real text stamped in
    the top margin of each: a partial text layer over a scan."""
    pdf = _pdf(font_pt)
    for image in scans:
        h, w = image.shape[:2]
        size = (w * 72.0 / dpi, h * 72.0 / dpi)
        pdf.add_page(format=size)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
        if not ok:
            raise ValueError("scan cannot be encoded")
        pdf.image(io.BytesIO(jpeg.tobytes()), x=0, y=0, w=size[0], h=size[1])
        pdf.text(MARGIN_PT / 2, font_pt * 1.5, stamp)
    pdf.output(str(path))
