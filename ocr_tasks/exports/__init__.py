"""Files written per document beside the lake's tables: searchable PDF, hOCR, ALTO, JSON.

Renderers turn a :class:`~ocr_tasks.document.Document` (and, for the PDF, its page images)
into bytes; where they are stored, and when they become visible, is the lake's business
(``lake.tables``: under the batch's own keys, listed in its commit).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ocr_tasks.core.config import EXPORT_FORMATS
from ocr_tasks.document import Document

# File name suffix of each export (``<doc_id><suffix>``).
SUFFIXES: dict[str, str] = {"pdf": ".pdf", "hocr": ".hocr", "alto": ".alto.xml", "json": ".json"}
assert tuple(SUFFIXES) == EXPORT_FORMATS


def to_json(document: Document) -> bytes:
    """The Document JSON (``Document.to_dict``), the format ``ocr-pipeline ocr`` prints."""
    return json.dumps(document.to_dict(), ensure_ascii=False, indent=1).encode()


def render(document: Document, formats: Sequence[str],
           images: Mapping[int, bytes] | None = None) -> dict[str, bytes]:
    """The exports ``formats`` of one document: format -> file bytes. ``images`` (page index
    -> JPEG, see :func:`ocr_tasks.exports.pdf.page_jpeg`) is needed for ``pdf`` only."""
    out: dict[str, bytes] = {}
    for fmt in formats:
        if fmt == "json":
            out[fmt] = to_json(document)
        elif fmt == "hocr":
            from ocr_tasks.exports.hocr import to_hocr

            out[fmt] = to_hocr(document)
        elif fmt == "alto":
            from ocr_tasks.exports.alto import to_alto

            out[fmt] = to_alto(document)
        elif fmt == "pdf":
            from ocr_tasks.exports.pdf import to_pdf

            out[fmt] = to_pdf(document, images or {})
        else:
            raise ValueError(f"unknown export {fmt!r}; exports are {', '.join(EXPORT_FORMATS)}")
    return out
