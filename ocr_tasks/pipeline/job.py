"""The ingestion job as plain functions; ``flows/`` only decides where each one runs.

A run goes in *waves* so that memory stays bounded however large the source is: take the
next few thousand candidate objects from the listing, probe them in chunks on the workers,
plan their pages into batches, OCR the batches with a bounded number in flight, repeat.
Every batch commits on its own, so a run that dies resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ocr_tasks.core.config import LimitSettings, PipelineSettings
from ocr_tasks.core.errors import InputError
from ocr_tasks.io.storage import open_store
from ocr_tasks.lake.manifest import Manifest, load_manifest
from ocr_tasks.lake.rows import RunRow
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.pipeline.batch import BatchResult
from ocr_tasks.pipeline.discovery import (
    Probe,
    deduplicate,
    list_candidates,
    probe_documents,
)
from ocr_tasks.pipeline.planning import BatchSpec, plan_batches
from ocr_tasks.quality.batch_quality import batch_samples, micro_cer

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class IngestRequest:
    """Parameters of one run (what the flows take and the ``runs`` table records)."""

    source: str
    lake: str
    flow: str = "nightly_ingest"
    batch_pages: int = 0  # 0: OCR_BATCH_PAGES
    max_in_flight: int = 0  # 0: OCR_MAX_BATCHES_IN_FLIGHT
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    wave_documents: int = 2000
    probe_chunk: int = 50

    def __post_init__(self) -> None:
        settings = PipelineSettings()
        if not self.batch_pages:
            object.__setattr__(self, "batch_pages", settings.batch_pages)
        if not self.max_in_flight:
            object.__setattr__(self, "max_in_flight", settings.max_batches_in_flight)

    def parameters(self) -> dict[str, Any]:
        return {
            "source": self.source, "lake": self.lake, "batch_pages": self.batch_pages,
            "max_in_flight": self.max_in_flight, "limit": self.limit,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass
class RunState:
    """A run in progress, owned by the flow process."""

    request: IngestRequest
    run_id: str
    started_at: datetime
    manifest: Manifest
    results: list[BatchResult] = field(default_factory=list)
    failed_batches: list[str] = field(default_factory=list)

    @property
    def ingest_date(self) -> str:
        return self.started_at.date().isoformat()


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def check_source(uri: str) -> None:
    """A mistyped folder would otherwise look like an empty drop and 'succeed'."""
    if "://" not in uri and not os.path.isdir(uri):
        raise InputError(f"source folder {uri} does not exist")


def start_run(request: IngestRequest, run_id: str | None = None) -> RunState:
    """Clear what a crashed run left half-written, then read the manifest."""
    check_source(request.source)
    lake = Lake.open(request.lake)
    removed = lake.sweep_uncommitted(min_age_s=PipelineSettings().sweep_grace_s)
    if removed:
        log.info("removed %d files of uncommitted batches from an earlier attempt", len(removed))
    return RunState(request, run_id or uuid.uuid4().hex, datetime.now(UTC), load_manifest(lake))


def candidate_waves(state: RunState) -> Iterator[list[SourceRef]]:
    """Source objects to probe, streamed from the listing in waves."""
    req = state.request
    store = open_store(req.source)
    refs = list_candidates(store, state.manifest.done_fingerprints, since=req.since,
                           until=req.until, limit=req.limit)
    return chunked(refs, req.wave_documents)


def probe_chunk(source_uri: str, refs: list[SourceRef]) -> list[Probe]:
    """Worker side: hash and count pages of a chunk of documents."""
    return probe_documents(open_store(source_uri), refs, LimitSettings())


MIN_BATCH_PAGES = 8  # below this, per-batch overhead (task, canaries, files) dominates


def balanced_batch_pages(total_pages: int, batch_pages: int, slots: int) -> int:
    """Batch size for a wave: the configured size, smaller when the wave is too small to
    keep every in-flight slot busy (a 13-page drop should not run on one worker)."""
    even = -(-total_pages // max(1, slots))
    return max(1, min(batch_pages, max(MIN_BATCH_PAGES, even)))


def plan_wave(state: RunState, probes: Iterable[Probe]) -> list[BatchSpec]:
    """Dedupe a wave's probes against the lake and this run, then pack them into batches."""
    req = state.request
    fresh = list(deduplicate(sorted(probes, key=lambda p: p.ref.key), state.manifest.done_doc_ids))
    for probe in fresh:
        if not probe.failed:
            state.manifest.done_doc_ids.add(probe.doc_id)  # later waves see it as a duplicate
    size = balanced_batch_pages(sum(p.pages for p in fresh), req.batch_pages, req.max_in_flight)
    return list(plan_batches(
        fresh, batch_pages=size, run_id=state.run_id, ingest_date=state.ingest_date,
        source_uri=req.source, lake_uri=req.lake,
        missing=lambda p: state.manifest.missing_ranges(p.doc_id, p.pages),
    ))


def bounded(
    items: Iterable[T],
    submit: Callable[[T], Any],
    as_completed: Callable[[list[Any]], Iterator[Any]],
    limit: int,
) -> Iterator[tuple[T, Any]]:
    """Submit ``items`` keeping at most ``limit`` in flight; yield (item, future) as each ends.

    Backpressure for backfills: the source listing is consumed only as fast as batches end.
    """
    inflight: dict[Any, T] = {}
    for item in items:
        while len(inflight) >= limit:
            done = next(as_completed(list(inflight)))
            yield inflight.pop(done), done
        inflight[submit(item)] = item
    while inflight:
        done = next(as_completed(list(inflight)))
        yield inflight.pop(done), done


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    flow: str
    status: str
    documents: int
    pages: int
    errors: int
    batches: int
    failed_batches: int
    seconds: float
    lake: str
    cer: float | None = None

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return (f"{self.status}: {self.documents} documents, {self.pages} pages, {self.errors} errors "
                f"in {self.batches} batches ({self.failed_batches} failed), {self.seconds:.1f} s, "
                f"{self.pages_per_s:.2f} pages/s -> {self.lake}")


def finish_run(state: RunState) -> RunSummary:
    """Record the run in the lake's ``runs`` table and return its summary."""
    # the versions the run's batches ran with (one, unless workers were mid-rollout)
    model_version = ",".join(sorted({r.model_version for r in state.results if r.model_version}))
    finished = datetime.now(UTC)
    fresh = [r for r in state.results if not r.replayed]
    status = "failed" if state.failed_batches else "completed"
    lake = Lake.open(state.request.lake)
    cer, cer_low, cer_high = micro_cer(batch_samples(lake, [r.batch_id for r in state.results]))
    summary = RunSummary(
        run_id=state.run_id,
        flow=state.request.flow,
        status=status,
        documents=sum(r.documents for r in fresh),
        pages=sum(r.pages for r in fresh),
        errors=sum(r.errors for r in fresh),
        batches=len(state.results),
        failed_batches=len(state.failed_batches),
        seconds=(finished - state.started_at).total_seconds(),
        lake=state.request.lake,
        cer=cer,
    )
    lake.write_run(RunRow(
        summary.run_id, summary.flow, json.dumps(state.request.parameters()), status,
        state.started_at, finished, summary.documents, summary.pages, summary.errors,
        summary.seconds, summary.pages_per_s, cer, cer_low, cer_high, summary.lake,
        model_version,
    ))
    return summary
