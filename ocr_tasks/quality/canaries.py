"""Canary pages: synthetic pages with exact truth, OCR'd in every batch next to customer pages.

A canary is a pure function of its seed, and the seed a function of the batch id (and the
optional ``canary_seed`` setting), so a re-run of a batch renders and scores the same pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ocr_tasks.core.config import PipelineSettings
from ocr_tasks.quality.scoring import SampleContext, sample_rows
from ocr_tasks.synth import CanaryPage, canary_seed, render_canary
from ocr_tasks.truth import TruthPage


def canary_count(pages: int | None, settings: PipelineSettings) -> int:
    """Canaries for a batch of ``pages`` customer pages: one per ``canary_every_pages`` (at
    least one, at most ``canary_pages``), so their cost is proportional to the batch (a
    canary costs about as much as a dense page); None = the full ``canary_pages``."""
    if pages is None or settings.canary_pages <= 0:
        return max(0, settings.canary_pages)
    return min(settings.canary_pages, max(1, math.ceil(pages / settings.canary_every_pages)))


def allot_canaries(batch_pages: Sequence[int], settings: PipelineSettings) -> list[int]:
    """Canaries for each batch of a planned wave: one per ``canary_every_pages`` pages of the
    wave, rounded up (at least one per wave, at most ``canary_pages`` per batch), given to the
    batches by largest remainder of their share. A small drop cut into many small batches
    (8 batches of 8 pages keep 8 workers busy) then pays for 2 canaries, not for 8; batches of
    the production size get what :func:`canary_count` gives them alone."""
    if settings.canary_pages <= 0 or not batch_pages:
        return [0] * len(batch_pages)
    every, cap = settings.canary_every_pages, settings.canary_pages
    total = min(cap * len(batch_pages), max(1, math.ceil(sum(batch_pages) / every)))
    counts = [min(cap, pages // every) for pages in batch_pages]
    by_remainder = sorted(range(len(batch_pages)),
                          key=lambda i: (-(batch_pages[i] % every), i))
    remaining = total - sum(counts)
    while remaining > 0:  # total <= cap * batches: every pass gives at least one
        for i in by_remainder:
            if remaining and counts[i] < cap:
                counts[i] += 1
                remaining -= 1
    return counts


def canary_seeds(batch_id: str, settings: PipelineSettings, pages: int | None = None,
                 allotted: int | None = None) -> list[int]:
    """Seeds of the batch's canaries (``allotted`` by its plan, else :func:`canary_count`, never
    more than its ``pages`` call for); a non-zero ``canary_seed`` setting draws another set.
    The first seeds do not depend on the count, so a smaller batch gets a prefix."""
    key = batch_id if not settings.canary_seed else f"{batch_id}/{settings.canary_seed}"
    count = canary_count(pages, settings)
    if allotted is not None:
        count = min(count, allotted)
    return [canary_seed(key, i) for i in range(count)]


def canary_doc_id(seed: int) -> str:
    """The ``doc_id`` of a canary's samples: enough to re-render it with ``render_canary``."""
    return f"canary-{seed}"


def truth_of(canary: CanaryPage) -> TruthPage:
    """What a canary is scored against: its exact visual lines, each with its words."""
    return canary.truth.as_lines()


def run_canaries(
    engine: Any, run_id: str, batch_id: str, settings: PipelineSettings, created_at: datetime,
    pages: int | None = None, allotted: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Render, OCR (``engine.recognize_pages``, the customer path) and score the canaries of
    a batch of ``pages`` customer pages (see :func:`canary_seeds`); returns (canary pages,
    cer_samples rows)."""
    canaries = [render_canary(seed, severity=settings.canary_severity, dpi=settings.canary_dpi)
                for seed in canary_seeds(batch_id, settings, pages, allotted)]
    if not canaries:
        return 0, []
    results = engine.recognize_pages([c.page for c in canaries])
    rows: list[dict[str, Any]] = []
    for i, (canary, page) in enumerate(zip(canaries, results, strict=True)):
        ctx = SampleContext(run_id, batch_id, "canary", canary_doc_id(canary.seed), i,
                            page.model_version or engine.model_version, created_at)
        rows.extend(sample_rows(ctx, truth_of(canary), page))
    return len(canaries), rows
