"""Audit sample: a few random customer pages per batch go out for human transcription.

Canaries measure the engine on synthetic pages and sidecars only where customers deliver
truth; the audit is an unbiased sample of real traffic. Each batch picks ``audit_pages``
pages by reservoir sampling seeded by its batch id (a re-run picks the same pages) and
writes, to the lake store::

    _audit/pending/<batch_id>/<doc_id>-p<page>.png    the page as the engine saw it
    _audit/pending/<batch_id>/<doc_id>-p<page>.json   prediction (lines, words, boxes), source

Transcribers return ``_audit/returned/<batch_id>/<doc_id>-p<page>.gt.txt`` (the page's lines)
or ``.gt.json`` (FUNSD ``{"form": [...]}`` in the PNG's pixel frame);
``ocr-pipeline audit-import`` scores them into ``cer_samples`` (``source='audit'``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cv2

from ocr_tasks.document import Page
from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.tables import Lake
from ocr_tasks.page_image import PageImage
from ocr_tasks.quality.scoring import SampleContext, sample_rows
from ocr_tasks.truth import (
    AUDIT_PENDING,
    AUDIT_RETURNED,
    audit_page_name,
    audit_pending_base,
    parse_truth_file,
    preferred_truth_keys,
)

PENDING = AUDIT_PENDING  # the layout is owned by ocr_tasks.truth
RETURNED = AUDIT_RETURNED


@dataclass(frozen=True)
class AuditPage:
    doc_id: str
    source_uri: str
    image: PageImage
    page: Page


class AuditSampler:
    """Uniform sample of ``k`` pages from a stream of unknown length (reservoir sampling)."""

    def __init__(self, batch_id: str, k: int) -> None:
        seed = int.from_bytes(hashlib.sha256(f"audit:{batch_id}".encode()).digest()[:8], "big")
        self.rng = random.Random(seed)
        self.k = k
        self.seen = 0
        self.sample: list[AuditPage] = []

    def offer(self, page: AuditPage) -> None:
        self.seen += 1
        if len(self.sample) < self.k:
            self.sample.append(page)
            return
        j = self.rng.randrange(self.seen)
        if j < self.k:
            self.sample[j] = page


def write_pending(store: Any, run_id: str, batch_id: str, pages: list[AuditPage]) -> list[str]:
    """Write each sampled page's image and prediction; returns the PNG keys."""
    keys = []
    for audit in pages:
        base = f"{PENDING}/{batch_id}/{audit_page_name(audit.doc_id, audit.page.index)}"
        ok, png = cv2.imencode(".png", audit.image.image)
        if not ok:
            raise ValueError(f"cannot encode audit page {base}")
        store.put(base + ".png", png.tobytes())
        store.put(base + ".json", json.dumps({
            "run_id": run_id, "batch_id": batch_id, "doc_id": audit.doc_id,
            "page": audit.page.index, "source_uri": audit.source_uri,
            "prediction": audit.page.to_dict(),
        }, ensure_ascii=False, indent=1).encode())
        keys.append(base + ".png")
    return keys


def import_batch_id(returned_key: str) -> str:
    """The committed batch holding one returned transcription's samples: a function of its
    name only, so importing again finds it committed and adds nothing."""
    return "audit-" + hashlib.sha256(returned_key.encode()).hexdigest()[:20]


def score_returned_audits(lake: Lake) -> list[dict[str, Any]]:
    """Score every returned transcription not imported yet; each becomes its own committed
    batch of ``cer_samples`` rows. Returns the rows written (none on a repeated import)."""
    store = lake.store
    written: list[dict[str, Any]] = []
    for key in preferred_truth_keys(i.key for i in store.list(RETURNED + "/")):
        batch_id = import_batch_id(key)
        if lake.is_committed(batch_id):
            continue
        pending_key = audit_pending_base(key) + ".json"
        if not store.exists(pending_key):
            raise FileNotFoundError(f"{store.uri(key)} answers no pending audit ({pending_key})")
        pending = json.loads(store.get(pending_key))
        truth = parse_truth_file(key, store.get(key))[0]
        page = Page.from_dict(pending["prediction"])
        now = datetime.now(UTC)
        ctx = SampleContext(pending["run_id"], batch_id, "audit", pending["doc_id"], page.index,
                            page.model_version, now)
        rows = sample_rows(ctx, truth, page)
        lake.write_batch(BatchContext(pending["run_id"], batch_id, now.date().isoformat(),
                                      page.model_version), {"cer_samples": rows})
        written.extend(rows)
    return written
