"""The lake's own truth: returned audit transcriptions and customers' sidecars.

* Audits: each ``_audit/returned/<batch>/<doc>-p<page>.gt.json|.gt.txt`` (the JSON where a
  page came back in both) labels the PNG written beside its pending prediction; the page's
  document is the ``doc_id`` recorded there (the lake's content hash of the source document).
* Sidecars: every document in a source store with a ``NAME.gt.json`` or ``NAME.gt.txt``
  (the JSON preferred) gives one labelled page per sidecar page: the image is the document
  and ``frame`` the page in it; PDF boxes are in the frame of pages rendered at
  ``SIDECAR_PDF_DPI`` (recorded as ``dpi``). A sidecar without a document is reported.

Layout and naming come from ``ocr_tasks.truth``. Storage faults propagate (they are retried
elsewhere); what is wrong with the truth itself becomes a problem.
"""

from __future__ import annotations

import json
from typing import Any

from ocr_tasks.core.errors import CorruptInput
from ocr_tasks.datasets.model import Imported, LabelledPage, Problem, why
from ocr_tasks.io.storage import ObjectStore, file_content_id
from ocr_tasks.truth import (
    AUDIT_RETURNED,
    SIDECAR_PDF_DPI,
    audit_pending_base,
    is_sidecar,
    parse_truth_file,
    preferred_truth_keys,
    sidecar_keys,
)

AUDIT_SOURCE = "audit"
SIDECAR_SOURCE = "sidecar"
_FAULTS = (CorruptInput, KeyError, TypeError, ValueError, UnicodeDecodeError)


def import_audits(store: ObjectStore) -> Imported:
    """Every returned audit transcription in the lake store, as a labelled page."""
    pages: list[LabelledPage] = []
    problems: list[Problem] = []
    for key in preferred_truth_keys(i.key for i in store.list(AUDIT_RETURNED + "/")):
        try:
            base = audit_pending_base(key)
            for needed in (base + ".json", base + ".png"):
                if not store.exists(needed):
                    raise ValueError(f"answers no pending audit ({needed} is missing)")
            pending: Any = json.loads(store.get(base + ".json"))
            truth = parse_truth_file(key, store.get(key))
            if len(truth) != 1:
                raise ValueError(f"an audit transcription is one page, this has {len(truth)}")
            pages.append(LabelledPage(f"{AUDIT_SOURCE}:{key[len(AUDIT_RETURNED) + 1:]}",
                                      store.uri(base + ".png"), truth[0], AUDIT_SOURCE,
                                      str(pending["doc_id"])))
        except _FAULTS as e:
            problems.append(Problem(store.uri(key), why(e)))
    return pages, problems


def import_sidecars(store: ObjectStore, prefix: str = "") -> Imported:
    """Every document under ``prefix`` that has a sidecar, one labelled page per truth page."""
    keys = [i.key for i in store.list(prefix)]
    sidecars = set(preferred_truth_keys(k for k in keys if is_sidecar(k)))
    pages: list[LabelledPage] = []
    problems: list[Problem] = []
    answered: set[str] = set()
    for doc_key in keys:
        if is_sidecar(doc_key) or doc_key.rsplit("/", 1)[-1].startswith("."):
            continue
        json_key, txt_key = sidecar_keys(doc_key)
        truth_key = json_key if json_key in sidecars else txt_key if txt_key in sidecars else None
        if truth_key is None:
            continue
        answered.update((json_key, txt_key))
        try:
            truth = parse_truth_file(truth_key, store.get(truth_key))
        except _FAULTS as e:
            problems.append(Problem(store.uri(truth_key), why(e)))
            continue
        with store.local_path(doc_key) as path:
            document = file_content_id(path)
        dpi = SIDECAR_PDF_DPI if doc_key.lower().endswith(".pdf") else None
        pages.extend(
            LabelledPage(f"{SIDECAR_SOURCE}:{doc_key}#p{i}", store.uri(doc_key), page,
                         SIDECAR_SOURCE, document, frame=i, dpi=dpi)
            for i, page in enumerate(truth)
        )
    problems.extend(Problem(store.uri(k), "a sidecar without a document")
                    for k in sorted(sidecars - answered))
    return pages, problems

