"""Quality measurement inside every batch: canary pages, sidecar ground truth, audit samples.

``BatchQuality`` is the one object the batch runner talks to: it sees every customer page
as it is recognized (``observe``) and, at the end of the batch, runs the canaries through
the same engine and returns the ``cer_samples`` rows and the batch's CER (``finish``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocr_tasks.config import PipelineSettings
from ocr_tasks.document import Page
from ocr_tasks.page_image import PageImage
from ocr_tasks.planning import BatchSpec, WorkItem


@dataclass(frozen=True)
class QualitySummary:
    rows: list[dict[str, Any]] = field(default_factory=list)
    canary_pages: int = 0
    cer: float | None = None
    cer_low: float | None = None
    cer_high: float | None = None


class BatchQuality:
    """Placeholder until canaries and sidecars land: measures nothing, claims nothing."""

    def __init__(self, spec: BatchSpec, store: Any, engine: Any, settings: PipelineSettings) -> None:
        self.spec = spec

    def observe(self, item: WorkItem, image: PageImage, page: Page) -> None:
        return None

    def finish(self) -> QualitySummary:
        return QualitySummary()
