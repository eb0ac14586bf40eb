"""Ground truth delivered next to documents: ``NAME.gt.txt`` and ``NAME.gt.json`` sidecars.

``.gt.txt`` holds each page's text, one visual line per line, pages separated by a form feed.
``.gt.json`` holds FUNSD annotations (text segments with word boxes), ``{"form": [...]}`` for
one page or ``{"pages": [{"form": [...]}, ...]}`` for several. The JSON is preferred when
both exist: its boxes let scoring align by position instead of by content.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ocr_tasks.document import Box

log = logging.getLogger(__name__)

Boxed = tuple[str, Box]
TXT_SUFFIX = ".gt.txt"
JSON_SUFFIX = ".gt.json"
# The sample generator (and the customers' tooling it imitates) annotates PDF pages rendered
# at this resolution; boxes are rescaled when the engine renders at another dpi.
SIDECAR_PDF_DPI = 200.0


@dataclass(frozen=True)
class TruthPage:
    """The reference of one page: text lines (from ``.gt.txt``) or boxed FUNSD segments and
    words (from ``.gt.json``), in the pixel frame of the page as delivered."""

    lines: tuple[str, ...] = ()
    segments: tuple[Boxed, ...] = ()
    words: tuple[Boxed, ...] = ()

    @property
    def has_boxes(self) -> bool:
        return bool(self.segments)

    def scaled(self, factor: float) -> TruthPage:
        if factor == 1.0:
            return self

        def scale(items: tuple[Boxed, ...]) -> tuple[Boxed, ...]:
            return tuple((t, (b[0] * factor, b[1] * factor, b[2] * factor, b[3] * factor))
                         for t, b in items)

        return TruthPage(self.lines, scale(self.segments), scale(self.words))


def sidecar_keys(doc_key: str) -> tuple[str, str]:
    """(json key, txt key) of a document: ``a/b/claim.pdf`` -> ``a/b/claim.gt.json`` ..."""
    folder, _, name = doc_key.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    base = f"{folder}/{stem}" if folder else stem
    return base + JSON_SUFFIX, base + TXT_SUFFIX


def parse_txt(data: bytes) -> list[TruthPage]:
    """Pages split at form feeds; empty lines carry no text and are dropped."""
    text = data.decode("utf-8-sig").replace("\r\n", "\n")
    pages = text.split("\f")
    if len(pages) > 1 and not pages[-1].strip():
        pages = pages[:-1]  # a trailing form feed ends the last page, it does not start one
    return [TruthPage(lines=tuple(ln.strip() for ln in p.split("\n") if ln.strip())) for p in pages]


def _box(value: Any) -> Box:
    x0, y0, x1, y1 = (float(v) for v in value)
    return (x0, y0, x1, y1)


def _funsd_page(form: list[dict[str, Any]]) -> TruthPage:
    segments, words = [], []
    for entry in form:
        text = str(entry.get("text", "")).strip()
        if text:
            segments.append((text, _box(entry["box"])))
        words.extend((str(w["text"]), _box(w["box"])) for w in entry.get("words", [])
                     if str(w.get("text", "")).strip())
    return TruthPage(segments=tuple(segments), words=tuple(words))


def parse_funsd(data: bytes) -> list[TruthPage]:
    """One ``TruthPage`` per page of a FUNSD sidecar (single ``form`` or ``pages`` list)."""
    doc = json.loads(data.decode("utf-8-sig"))
    if "pages" in doc:
        return [_funsd_page(page.get("form", [])) for page in doc["pages"]]
    return [_funsd_page(doc.get("form", []))]


def load_sidecar(store: Any, doc_key: str) -> list[TruthPage] | None:
    """The document's truth pages, or None when it has no (readable) sidecar.

    A malformed sidecar is logged and skipped: bad truth must not fail a customer batch.
    """
    json_key, txt_key = sidecar_keys(doc_key)
    for key, parse in ((json_key, parse_funsd), (txt_key, parse_txt)):
        if not store.exists(key):
            continue
        try:
            return parse(store.get(key))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            log.warning("ignoring malformed sidecar %s: %s", store.uri(key), exc)
    return None
