"""The ingestion job as plain functions; ``flows/`` only decides where each one runs.

A run goes in *waves* so that memory stays bounded however large the source is: take the
next few thousand candidate objects from the listing, probe them in chunks on the workers,
plan their pages into batches, OCR the batches with a bounded number in flight, repeat.
Every batch commits on its own, so a run that dies resumes where it stopped.

Runs share a lake safely: each holds a lease (``lake.leases``) while it works and claims the
content of every document before planning its pages (``lake.claims``); a document claimed
by another live run is left to that run, one claimed by a dead run is taken over, and only
the files of dead runs are ever swept. So any two runs, on one host or two, end with every
page once.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from ocr_tasks.core.config import EngineSettings, LimitSettings, PipelineSettings
from ocr_tasks.core.errors import InputError, OcrPipelineError
from ocr_tasks.engine import registry
from ocr_tasks.io.storage import listing_complete, open_store
from ocr_tasks.lake.claims import Claims, Outcome
from ocr_tasks.lake.leases import RunLease, check_lease, lease_key, live_leases, read_lease
from ocr_tasks.lake.maintenance import maybe_checkpoint
from ocr_tasks.lake.manifest import (
    DELETED,
    Manifest,
    UriSet,
    digest,
    doc_done_elsewhere,
    load_manifest,
    vanished,
)
from ocr_tasks.lake.rows import BatchContext, DocumentRow, RunRow, run_tag
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.pipeline.batch import BatchResult
from ocr_tasks.pipeline.discovery import (
    Probe,
    as_duplicate,
    list_candidates,
    probe_documents,
)
from ocr_tasks.pipeline.planning import BatchSpec, plan_batches
from ocr_tasks.quality.batch_quality import micro_cer
from ocr_tasks.quality.canaries import allot_canaries
from ocr_tasks.quality.report import flow_label, lake_slug
from ocr_tasks.quality.verdict import Verdict, judge, read_samples

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
    model: str = ""  # "": OCR_ENGINE_MODEL; resolved once, at the run's start

    def __post_init__(self) -> None:
        # A window typed without a time zone (a deployment's parameter form, a script) is
        # UTC, like the CLI's --since/--until: object mtimes are aware, and comparing them
        # with a naive datetime would fail the run.
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
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
    lease: RunLease | None = None
    claims: Claims | None = None
    results: list[BatchResult] = field(default_factory=list)
    failed_batches: list[str] = field(default_factory=list)
    # documents this run claimed -> batches still to commit; done claims when it reaches 0
    outstanding: dict[str, int] = field(default_factory=dict)
    claimed_uri: dict[str, str] = field(default_factory=dict)  # doc id -> uri it claimed for
    # documents another run owns: owner run id -> (its heartbeat when seen, the probes)
    deferred: dict[str, tuple[str, list[Probe]]] = field(default_factory=dict)
    elsewhere: dict[str, int] = field(default_factory=dict)  # live owner -> documents left
    swept: int = 0
    listed: UriSet | None = None  # every document uri of a complete listing (tombstones)
    tombstones: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # listing: what was passed over
    model: str = registry.BUNDLED  # the resolved model version every batch of the run uses

    @property
    def ingest_date(self) -> str:
        return self.started_at.date().isoformat()


def run_name(flow: str, lake: str, day: date) -> str:
    """A run's name in Prefect: its flow, its day (UTC: the ``ingest_date`` its rows land in)
    and its lake, e.g. ``nightly-2026-11-28-lake-3fa2b1``."""
    return f"{flow_label(flow)}-{day.isoformat()}-{lake_slug(open_store(lake).root_uri)}"


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _within(inner: str, outer: str) -> bool:
    inner, outer = inner.rstrip("/") + "/", outer.rstrip("/") + "/"
    return inner.startswith(outer)


# The places deployments/prefect.yaml ships with, to be replaced per installation
# (``s3://__set_OCR_SCHEDULE_SOURCE__/incoming``), and the usual "change me" spellings.
PLACEHOLDER = re.compile(r"__set_\w*__|(?<![a-z0-9])change[-_]?me(?![a-z0-9])", re.IGNORECASE)


def is_placeholder(uri: str) -> bool:
    return PLACEHOLDER.search(uri) is not None


def check_placed(source: str, lake: str) -> None:
    """A deployment created with the file's placeholder places must fail at once, naming the
    parameter, instead of reaching S3 with a bucket that cannot exist."""
    for name, uri in (("source", source), ("lake", lake)):
        if is_placeholder(uri):
            raise InputError(
                f"{name} is a placeholder ({uri}): set it in deployments/prefect.yaml (or "
                f"OCR_SCHEDULE_{name.upper()} for deployments/deploy.py) or pass "
                f"--param {name}=...")


def check_source(source: str, lake: str) -> None:
    """A mistyped folder would otherwise look like an empty drop and 'succeed'; a lake inside
    its source (or the reverse) would ingest its own files, more every run; a placeholder
    place would fail later with an S3 traceback."""
    check_placed(source, lake)
    if "://" not in source and not os.path.isdir(source):
        raise InputError(f"source folder {source} does not exist")
    src, dst = open_store(source).root_uri, open_store(lake).root_uri
    if _within(dst, src) or _within(src, dst):
        raise InputError(f"the lake {dst} and the source {src} overlap: put the lake outside "
                         "the source folder or bucket prefix")


def sweep_dead_runs(lake: Lake, own_run_id: str) -> int:
    """Remove what runs whose lease expired left uncommitted, then their leases. Their
    claims stay: the next run to meet those documents takes them over."""
    removed = 0
    for lease, version in live_leases(lake.store):
        if lease.run_id == own_run_id or not lease.expired():
            continue
        files = lake.sweep_run(lease.run_id, lease.ingest_date)
        log.warning("run %s died holding its lease: removed %d uncommitted files",
                    lease.describe(), len(files))
        lake.store.delete_if_version(lease_key(lease.run_id), version)
        removed += len(files)
    return removed


def start_run(request: IngestRequest, run_id: str | None = None) -> RunState:
    """Take the run's lease, clear what dead runs left half-written, read the manifest.

    The caller must end the run with :func:`finish_run` or :func:`abandon_run` (they
    release the lease); a process that dies instead leaves a lease that expires.
    """
    check_source(request.source, request.lake)
    model = registry.resolve(request.model or EngineSettings().model, request.lake)
    settings = PipelineSettings()
    lake = Lake.open(request.lake)
    run_id = run_id or uuid.uuid4().hex
    started = datetime.now(UTC)
    lease = RunLease(lake.store, run_id, flow=request.flow, source=request.source,
                     ingest_date=started.date().isoformat(), ttl_s=settings.lease_ttl_s,
                     heartbeat_s=settings.lease_heartbeat_s)
    lease.__enter__()
    try:
        swept = sweep_dead_runs(lake, run_id)
        manifest = load_manifest(lake, prefix=open_store(request.source).root_uri + "/")
    except BaseException:
        lease.release()
        raise
    return RunState(request, run_id, started, manifest, lease, Claims(lake.store, run_id),
                    swept=swept, model=model)


def abandon_run(state: RunState) -> None:
    """End the run's hold on the lake: remove what its failed batches left uncommitted, then
    release the lease. If the store cannot be reached the lease stays and expires, and
    the run that notices sweeps the files instead."""
    if state.lease is None or state.lease.lost:
        return
    try:
        Lake.open(state.request.lake).sweep_run(state.run_id, state.ingest_date)
    except OcrPipelineError as e:
        log.warning("run %s leaves its lease to expire: %s", state.run_id, e.message)
        state.lease.stop_renewing()
        return
    state.lease.release()


def candidate_waves(state: RunState) -> Iterator[list[SourceRef]]:
    """Source objects to probe, streamed from the listing in waves."""
    req = state.request
    store = open_store(req.source)
    state.skipped = getattr(store, "skipped", {})  # filled as the listing goes
    complete = req.since is None and req.until is None and req.limit is None
    state.listed = UriSet() if complete else None
    refs = list_candidates(store, state.manifest.done_fingerprints, since=req.since,
                           until=req.until, limit=req.limit,
                           listed=state.listed.add if state.listed is not None else None)
    return chunked(refs, req.wave_documents)


TOMBSTONES_PER_BATCH = 10_000


def record_tombstones(state: RunState) -> int:
    """After a complete listing: a ``deleted`` documents row for every source object the
    lake holds (latest version not yet a tombstone) that the listing no longer has."""
    if state.listed is None:
        return 0
    if not listing_complete(state.skipped):
        log.warning("no tombstones this run: the listing skipped what may hold documents (%s)",
                    ", ".join(f"{n} {why}" for why, n in sorted(state.skipped.items())))
        return 0
    lake = Lake.open(state.request.lake)
    prefix = open_store(state.request.source).root_uri + "/"
    gone = vanished(lake, prefix, state.listed)
    now = datetime.now(UTC)
    for n, chunk in enumerate(chunked(gone, TOMBSTONES_PER_BATCH)):
        batch_id = f"{run_tag(state.run_id)}-tombstones-{n}"
        ctx = BatchContext(state.run_id, batch_id, state.ingest_date, "")
        rows = [DocumentRow(doc_id, uri, 0, 0, 0, 0, DELETED, None, now,
                            f"deleted@{state.run_id}", state.run_id, batch_id, None, now)
                for uri, doc_id in chunk]
        lake.write_batch(ctx, {"documents": rows},
                         before_visible=lambda: check_lease(lake.store, state.run_id))
    if gone:
        log.info("%d source objects disappeared since they were ingested: tombstones written",
                 len(gone))
    return len(gone)


def probe_chunk(source_uri: str, refs: list[SourceRef]) -> list[Probe]:
    """Worker side: hash and count pages of a chunk of documents."""
    return probe_documents(open_store(source_uri), refs, LimitSettings())


GAVE_UP = "gave_up"  # error kind of a document that failed in OCR_MAX_ATTEMPTS runs
MAX_DEFERRED = 100_000  # documents of other runs remembered for the end-of-run check
MIN_BATCH_PAGES = 8  # below this, per-batch overhead (task, canaries, files) dominates


def guided_batch_pages(remaining: int, batch_pages: int, slots: int) -> int:
    """Pages of a wave's next batch when ``remaining`` pages are left to plan: the configured
    size while the wave holds plenty for every in-flight slot, then an even share of half of
    what is left per slot, never under ``MIN_BATCH_PAGES`` (guided self-scheduling).

    A small drop is spread over the slots (a 13-page drop does not run on one worker), and
    the last batches of every wave are small, so its slots finish together: a slower worker,
    or one with denser pages, takes fewer of them instead of the others waiting for its last
    large batch (a two-worker run of 120 pages in two batches of 60, 74.6 and 65.7 s, left
    one worker idle for 9 s). One slot has nothing to balance: it gets the configured size."""
    share = -(-max(0, remaining) // max(1, 2 * slots if slots > 1 else 1))
    return max(1, min(batch_pages, max(MIN_BATCH_PAGES, share)))


def claim(state: RunState, probes: Iterable[Probe]) -> list[Probe]:
    """The probes this run will account for: claimed (ours to OCR, or failed), or duplicates
    of content the lake or this run holds. Documents a live run owns are left to it; those
    of a run that stopped heart-beating are deferred until its lease expires."""
    assert state.claims is not None, "a run plans only while it holds its lease"
    taken: list[Probe] = []
    planned: list[Probe] = []
    max_attempts = PipelineSettings().max_attempts
    for probe in sorted(probes, key=lambda p: p.ref.key):
        failed_runs = state.manifest.retries.get(digest(probe.ref.fingerprint), 0)
        if failed_runs >= max_attempts and not (probe.failed and not probe.retryable):
            probe = replace(probe, pages=0, error_kind=GAVE_UP, retryable=False,
                            error_message=f"failed in {failed_runs} runs (OCR_MAX_ATTEMPTS="
                            f"{max_attempts}); not tried again. Last run: "
                            f"{probe.error_message or 'see its batch_failed error rows'}")
        if probe.doc_id in state.claimed_uri:
            if state.claimed_uri[probe.doc_id] != probe.ref.uri and not probe.failed:
                planned.append(as_duplicate(probe))  # same content twice in this run
            continue
        fp = probe.ref.fingerprint
        version = f"{fp[1]}|{fp[2]}"
        got = state.claims.acquire(probe.doc_id, probe.ref.uri, version)
        if got.outcome is Outcome.ELSEWHERE:
            assert got.owner is not None
            _, waiting = state.deferred.setdefault(
                got.owner.run_id, (got.owner.heartbeat_at, []))
            if sum(len(w) for _, w in state.deferred.values()) < MAX_DEFERRED:
                waiting.append(probe)  # rechecked at the end: is its owner still alive?
            else:
                state.elsewhere[got.owner.describe()] = (
                    state.elsewhere.get(got.owner.describe(), 0) + 1)
            continue
        if got.outcome is Outcome.DONE:
            if not got.claim.is_object(probe.ref.uri, version):  # its claimant recorded that one
                planned.append(as_duplicate(probe))
            continue
        state.claimed_uri[probe.doc_id] = probe.ref.uri
        (taken if got.taken_over else planned).append(probe)
    if taken:  # a dead run's documents: some may be complete already (died before saying so)
        lake = Lake.open(state.request.lake)
        state.swept += sweep_dead_runs(lake, state.run_id)  # its leftovers go with its lease
        finished = doc_done_elsewhere(lake, lake.snapshot(), [p.doc_id for p in taken])
        for probe in taken:
            if probe.doc_id in finished:
                state.claims.mark_done(probe.doc_id)
                planned.append(as_duplicate(probe))
            else:
                planned.append(probe)
    return planned


def plan_wave(state: RunState, probes: Iterable[Probe]) -> list[BatchSpec]:
    """Claim a wave's probes, then pack what is ours into batches."""
    req = state.request
    fresh = claim(state, probes)
    total = sum(p.pages for p in fresh)
    specs = list(plan_batches(
        fresh, run_id=state.run_id, ingest_date=state.ingest_date,
        batch_pages=lambda planned: guided_batch_pages(total - planned, req.batch_pages,
                                                       req.max_in_flight),
        source_uri=req.source, lake_uri=req.lake, model=state.model,
        missing=lambda p: state.manifest.missing_ranges(p.doc_id, p.pages),
    ))
    # the wave's canaries, spread over its batches: small batches do not each pay for one
    allotted = allot_canaries([spec.pages for spec in specs], PipelineSettings())
    specs = [replace(spec, canaries=n) for spec, n in zip(specs, allotted, strict=True)]
    for spec in specs:
        for doc_id in owned_documents(spec):
            state.outstanding[doc_id] = state.outstanding.get(doc_id, 0) + 1
    return specs


def owned_documents(spec: BatchSpec) -> set[str]:
    """Documents of a batch whose claim this run holds and may close: not duplicates of
    others, not documents that failed in a way the next run should retry."""
    return {item.probe.doc_id for item in spec.items
            if not item.is_duplicate and not item.probe.retryable}


def batch_ended(state: RunState, spec: BatchSpec, result: BatchResult, ok: bool) -> None:
    """Account for a finished batch; a claimed document whose batches all committed is done
    (a failed batch leaves its documents' claims open, for the next run to take over)."""
    state.results.append(result)
    if not ok:
        state.failed_batches.append(spec.batch_id)
    for doc_id in owned_documents(spec):
        left = state.outstanding.get(doc_id, 0) - 1
        state.outstanding[doc_id] = left if ok else -1_000_000  # never done in this run
        if left == 0 and ok and state.claims is not None:
            state.claims.mark_done(doc_id)


def await_deferred(state: RunState, poll_s: float = 1.0) -> list[Probe]:
    """Decide the documents other runs held when this run met them: an owner whose lease
    is renewed meanwhile is alive and keeps them (they are left to it); one whose lease
    expires (or is gone) died, and its documents are returned for this run to take over.
    Waits at most one heartbeat for a live owner, one lease TTL for a dead one."""
    import time

    settings = PipelineSettings()
    store = Lake.open(state.request.lake).store
    deadline = time.monotonic() + settings.lease_ttl_s + 2 * poll_s
    takeover: list[Probe] = []
    pending = dict(state.deferred)
    state.deferred = {}
    while pending and time.monotonic() < deadline:
        for run_id, (seen, probes) in list(pending.items()):
            got = read_lease(store, run_id)
            if got is None or got[0].expired():
                takeover.extend(probes)
                del pending[run_id]
            elif got[0].heartbeat_at != seen:
                state.elsewhere[got[0].describe()] = (
                    state.elsewhere.get(got[0].describe(), 0) + len(probes))
                del pending[run_id]
        if pending:
            log.info("waiting to see whether %s still run (%d documents)",
                     ", ".join(sorted(pending)), sum(len(p) for _, p in pending.values()))
            time.sleep(poll_s)
    for run_id, (_, probes) in pending.items():  # cannot happen unless clocks disagree
        state.elsewhere[f"run {run_id}"] = state.elsewhere.get(f"run {run_id}", 0) + len(probes)
    return takeover  # claim() sweeps the dead runs when it takes their documents over


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
    left_to_other_runs: int = 0  # documents another live run owns (it accounts for them)
    tombstones: int = 0  # source objects found gone
    skipped: dict[str, int] = field(default_factory=dict)  # listing: link loops, dangling links
    verdict: Verdict | None = None  # quality of customer pages and of canaries, judged apart

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        others = (f", {self.left_to_other_runs} documents left to other runs"
                  if self.left_to_other_runs else "")
        others += f", {self.tombstones} deleted from the source" if self.tombstones else ""
        if self.skipped:
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
            others += f", skipped in the listing: {why}"
        quality = f"; {self.verdict.describe()}" if self.verdict is not None else ""
        return (f"{self.status}: {self.documents} documents, {self.pages} pages, "
                f"{self.errors} errors in {self.batches} batches ({self.failed_batches} failed)"
                f"{others}, {self.seconds:.1f} s, {self.pages_per_s:.2f} pages/s -> {self.lake}"
                f"{quality}")


def finish_run(state: RunState) -> RunSummary:
    """Judge the run's quality (``quality.verdict``), record the run in the lake's ``runs``
    table (status ``completed``, ``degraded`` or ``failed``), fold old log entries into a
    checkpoint when enough have piled up, release the lease, and return the run's summary."""
    try:
        return _record_run(state)
    finally:
        abandon_run(state)


def _record_run(state: RunState) -> RunSummary:
    if not state.failed_batches:
        state.tombstones = record_tombstones(state)
    # the versions the run's batches ran with (one, unless workers were mid-rollout)
    model_version = ",".join(sorted({r.model_version for r in state.results if r.model_version}))
    finished = datetime.now(UTC)
    fresh = [r for r in state.results if not r.replayed]
    lost = state.lease is not None and state.lease.lost
    lake = Lake.open(state.request.lake)
    samples = read_samples(lake, [r.batch_id for r in state.results])
    cer, cer_low, cer_high = micro_cer(samples)  # all sources: the runs table's figure
    verdict = judge(state.run_id, samples, PipelineSettings().cer_threshold,
                    replayed={r.batch_id for r in state.results if r.replayed})
    status = ("failed" if state.failed_batches or lost
              else "degraded" if verdict.degraded else "completed")
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
        left_to_other_runs=sum(state.elsewhere.values()),
        tombstones=state.tombstones,
        skipped=dict(state.skipped),
        verdict=verdict,
    )
    for owner, count in sorted(state.elsewhere.items()):
        log.info("%d documents are being processed by %s", count, owner)
    lake.write_run(RunRow(
        summary.run_id, summary.flow, json.dumps(state.request.parameters()), status,
        state.started_at, finished, summary.documents, summary.pages, summary.errors,
        summary.seconds, summary.pages_per_s, cer, cer_low, cer_high, summary.lake,
        model_version,
    ))
    maybe_checkpoint(lake)
    return summary
