"""Quality measurement inside every batch: canary pages, sidecar ground truth, audit samples.

``BatchQuality`` is the one object the batch runner talks to: it sees every customer page
as it is recognized (``observe``) and, at the end of the batch, runs the canaries through
the same engine and returns the ``cer_samples`` rows and the batch's CER (``finish``).
The batch CER is the micro CER (edits / reference characters) over the batch's page
samples of every source, with a bootstrap interval over pages.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocr_tasks.core.config import PipelineSettings
from ocr_tasks.document import Page
from ocr_tasks.evaluation.metrics import micro_cer_interval
from ocr_tasks.io.storage import ObjectStore
from ocr_tasks.page_image import PageImage
from ocr_tasks.quality.audit import AuditPage, AuditSampler, write_pending
from ocr_tasks.quality.canaries import run_canaries
from ocr_tasks.quality.scoring import SampleContext, sample_rows
from ocr_tasks.quality.sidecars import SIDECAR_PDF_DPI, TruthPage, load_sidecar

log = logging.getLogger(__name__)

__all__ = ["BatchQuality", "QualitySummary", "micro_cer"]


@dataclass(frozen=True)
class QualitySummary:
    rows: list[dict[str, Any]] = field(default_factory=list)
    canary_pages: int = 0
    cer: float | None = None
    cer_low: float | None = None
    cer_high: float | None = None
    audit_keys: list[str] = field(default_factory=list)


def micro_cer(rows: Iterable[dict[str, Any]]) -> tuple[float | None, float | None, float | None]:
    """(CER, low, high) over the page rows among ``rows``; Nones without reference text."""
    pages = [r for r in rows if r["level"] == "page" and r["ref_chars"]]
    if not pages:
        return None, None, None
    cer, low, high = micro_cer_interval([r["edits"] for r in pages],
                                        [r["ref_chars"] for r in pages])
    if math.isnan(cer):
        return None, None, None
    return cer, low, high


@dataclass(frozen=True)
class SourceDocument:
    """What quality needs to know of a customer page's document."""

    doc_id: str
    uri: str
    key: str
    format: str | None


class BatchQuality:
    """Collects the batch's samples: sidecar pages as they pass, canaries and audit at the end."""

    def __init__(self, run_id: str, batch_id: str, source: ObjectStore, engine: Any,
                 settings: PipelineSettings, lake: ObjectStore,
                 canaries: int | None = None) -> None:
        self.run_id = run_id
        self.batch_id = batch_id
        self.store = source
        self.lake = lake
        self.engine = engine
        self.settings = settings
        self.created_at = datetime.now(UTC)
        self.rows: list[dict[str, Any]] = []
        self._truth: dict[str, list[TruthPage] | None] = {}
        # (doc id, message) of sidecars that could not be used: error rows of their own kind
        self.sidecar_problems: list[tuple[str, str]] = []
        self._audit = AuditSampler(batch_id, settings.audit_pages)
        self.pages_seen = 0  # customer pages OCR'd: the canaries are scaled to it
        self.canaries = canaries  # allotted by the plan (canaries.allot_canaries); None: alone

    def _sidecar(self, doc: SourceDocument) -> list[TruthPage] | None:
        if doc.key not in self._truth:  # once per document per batch
            problems: list[str] = []
            self._truth[doc.key] = load_sidecar(self.store, doc.key, problems)
            self.sidecar_problems.extend((doc.doc_id, message) for message in problems)
        return self._truth[doc.key]

    def observe(self, doc: SourceDocument, image: PageImage, page: Page) -> None:
        """Score a customer page that has a sidecar; offer every page to the audit sample."""
        self.pages_seen += 1
        self._audit.offer(AuditPage(doc.doc_id, doc.uri, image, page))
        truth = self._sidecar(doc)
        if truth is None:
            return
        if page.index >= len(truth):
            log.warning("sidecar of %s has %d pages, no truth for page %d",
                        doc.uri, len(truth), page.index)
            return
        page_truth = truth[page.index]
        if doc.format == "pdf" and page.dpi:
            page_truth = page_truth.scaled(float(page.dpi) / SIDECAR_PDF_DPI)
        ctx = SampleContext(self.run_id, self.batch_id, "sidecar", doc.doc_id,
                            page.index, page.model_version or self.engine.model_version,
                            self.created_at)
        self.rows.extend(sample_rows(ctx, page_truth, page))

    def finish(self) -> QualitySummary:
        """Run the canaries, write the audit sample, and sum up the batch."""
        canaries, canary_rows = run_canaries(self.engine, self.run_id, self.batch_id,
                                             self.settings, self.created_at, self.pages_seen,
                                             self.canaries)
        rows = self.rows + canary_rows
        audit_keys: list[str] = []
        if self._audit.sample:
            audit_keys = write_pending(self.lake, self.run_id, self.batch_id, self._audit.sample)
        cer, low, high = micro_cer(rows)
        return QualitySummary(rows, canaries, cer, low, high, audit_keys)
