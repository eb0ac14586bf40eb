"""Ground truth delivered next to documents: loading ``NAME.gt.json`` / ``NAME.gt.txt``.

The formats, the naming rule and the ``TruthPage`` type belong to ``ocr_tasks.truth``; this
module holds the policy of a batch: the JSON is preferred when both exist (its boxes let
scoring align by position instead of by content), and bad truth never fails a batch.
"""

from __future__ import annotations

import logging
from typing import Any

from ocr_tasks.core.errors import CorruptInput
from ocr_tasks.truth import SIDECAR_PDF_DPI, TruthPage, parse_funsd, parse_txt, sidecar_keys

log = logging.getLogger(__name__)

# SIDECAR_PDF_DPI and TruthPage are owned by ocr_tasks.truth; batch_quality finds them here.
__all__ = ["SIDECAR_PDF_DPI", "TruthPage", "load_sidecar"]


def load_sidecar(store: Any, doc_key: str,
                 problems: list[str] | None = None) -> list[TruthPage] | None:
    """The document's truth pages, or None when it has no (readable) sidecar.

    A malformed sidecar is logged, described in ``problems`` and skipped: bad truth must
    never fail a customer batch.
    """
    json_key, txt_key = sidecar_keys(doc_key)
    for key, parse in ((json_key, parse_funsd), (txt_key, parse_txt)):
        if not store.exists(key):
            continue
        try:
            return parse(store.get(key))
        except CorruptInput as exc:
            log.warning("ignoring malformed sidecar %s: %s", store.uri(key), exc)
            if problems is not None:
                problems.append(f"sidecar {store.uri(key)} ignored: {exc.message}")
    return None
