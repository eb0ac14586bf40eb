"""Prefect flows for nightly ingestion and backfills: orchestration only.

One Prefect task per chunk of documents probed and per batch of pages OCR'd, never per
page. All the work lives in ``ocr_tasks``; see ``ocr_tasks.pipeline.job`` for the run's shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Failed, State

from flows import publish, runtime
from ocr_tasks.core import progress
from ocr_tasks.core.config import PipelineSettings
from ocr_tasks.core.errors import InputError, OcrPipelineError, RunFailed
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.pipeline import job
from ocr_tasks.pipeline.batch import BatchResult, record_batch_failure, run_batch
from ocr_tasks.pipeline.discovery import Probe, chunk_failed, probe_alone
from ocr_tasks.pipeline.planning import BatchSpec


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry storage and infrastructure faults; a deterministic bug would only fail again."""
    try:
        state.result()
    except OcrPipelineError as exc:
        return exc.retryable
    except (OSError, ConnectionError, TimeoutError):
        return True
    except Exception:  # noqa: BLE001
        return False
    return False


@task(name="probe-documents", retries=3, retry_delay_seconds=[2, 10, 30],
      retry_condition_fn=retry_if_transient)
def probe_documents(source: str, refs: list[SourceRef]) -> list[Probe]:
    return job.probe_chunk(source, refs)


@task(name="ocr-batch", task_run_name="ocr-batch-{spec.batch_id}", retries=3,
      retry_delay_seconds=[5, 30, 120], retry_condition_fn=retry_if_transient)
def ocr_batch(spec: BatchSpec) -> BatchResult:
    return run_batch(spec)


def probe_wave(request: job.IngestRequest, wave: list[SourceRef]) -> list[Probe]:
    """Probe a wave in chunks, at most ``max_in_flight`` at once. A chunk whose task fails for
    good is probed again one document per task (a file that kills its worker must not take
    its neighbours with it); what still fails becomes retryable error probes, never a failed
    run."""
    logger = get_run_logger()
    probes: list[Probe] = []
    chunks = list(job.chunked(wave, request.probe_chunk))
    while chunks:
        alone: list[list[SourceRef]] = []
        for chunk, future in job.bounded(chunks, partial(probe_documents.submit, request.source),
                                         as_completed, request.max_in_flight):
            try:
                probes.extend(future.result())
            except Exception as exc:  # noqa: BLE001 - only this chunk's documents are affected
                if probe_alone(chunk, exc):
                    logger.warning("probe task for %d documents failed (%s); probing them one "
                                   "by one", len(chunk), exc)
                    alone.extend([ref] for ref in chunk)
                else:
                    logger.error("probe task failed for %d documents: %s", len(chunk), exc)
                    probes.extend(chunk_failed(chunk, exc))
        chunks = alone
    return probes


def run_batches(state: job.RunState, specs: list[BatchSpec], gpu: bool) -> None:
    """OCR planned batches, at most ``max_in_flight`` at once; a batch that fails for good
    becomes retryable error rows for its documents and the run goes on."""
    if not specs:
        return
    logger = get_run_logger()
    progress.report("planned", batches=len(specs), pages=sum(s.pages for s in specs))
    with runtime.gpu_annotation(gpu):
        for spec, future in job.bounded(specs, ocr_batch.submit, as_completed,
                                        state.request.max_in_flight):
            try:
                result, ok = future.result(), True
            except Exception as exc:  # noqa: BLE001 - the run goes on; documents get error rows
                logger.error("batch %s failed: %s", spec.batch_id, exc)
                result, ok = record_batch_failure(spec, exc), False
            job.batch_ended(state, spec, result, ok)
            progress.report("batch", pages=spec.pages, result=result)


def ingest(request: job.IngestRequest, gpu: bool | None = None) -> job.RunSummary | State:
    logger = get_run_logger()
    if gpu is None:
        gpu = runtime.cluster_has_gpus(PipelineSettings().dask_address)
    try:
        state = job.start_run(request, run_id=str(flow_run.id) if flow_run.id else None)
    except InputError as exc:  # a parameter to fix (a placeholder place): one line, no trace
        # a fresh error, never raised: a worker's engine re-raises a failed run's data, and
        # this keeps our frames out of the trace it logs
        return Failed(message=exc.message, data=type(exc)(exc.message))
    logger.info("run %s: %s -> %s", state.run_id, request.source, request.lake)
    try:
        for wave in job.candidate_waves(state):
            run_batches(state, job.plan_wave(state, probe_wave(request, wave)), gpu)
        # documents of runs that stopped heart-beating: ours once their leases expire
        run_batches(state, job.plan_wave(state, job.await_deferred(state)), gpu)
    except BaseException:
        job.abandon_run(state)
        raise
    summary = job.finish_run(state)
    logger.info(summary.describe())
    outcome = publish.publish_run(summary, state)  # artifacts, events, Degraded state
    if summary.failed_batches:
        raise RunFailed(summary.describe())
    return outcome


def run_name(flow: str) -> str:
    """``flow_run_name`` of both flows: ``nightly-2026-11-28-<lake>`` (``job.run_name``)."""
    lake = flow_run.parameters.get("lake")
    today = datetime.now(UTC).date()
    return job.run_name(flow, str(lake), today) if lake else f"{flow}-{today.isoformat()}"


def default_task_runner() -> Any:
    """Deployments run the flows as declared: Dask at OCR_DASK_ADDRESS, else a LocalCluster
    of OCR_WORKERS processes (created only when the flow starts). The CLI overrides it."""
    settings = PipelineSettings()
    return runtime.dask_task_runner(settings.workers, settings.dask_address)


@flow(name="nightly-ingest", log_prints=True, task_runner=default_task_runner(),
      flow_run_name=partial(run_name, "nightly_ingest"))
def nightly_ingest(
    source: str,
    lake: str,
    batch_pages: int | None = None,
    max_in_flight: int | None = None,
    gpu: bool | None = None,
) -> job.RunSummary | State:
    """OCR every document under ``source`` that the lake's manifest does not hold yet."""
    return ingest(job.IngestRequest(source=source, lake=lake, flow="nightly_ingest",
                                    batch_pages=batch_pages or 0,
                                    max_in_flight=max_in_flight or 0), gpu)


@flow(name="backfill", log_prints=True, task_runner=default_task_runner(),
      flow_run_name=partial(run_name, "backfill"))
def backfill(source: str, lake: str, since: datetime | None = None, until: datetime | None = None,
             limit: int | None = None, batch_pages: int | None = None,
             max_in_flight: int | None = None, gpu: bool | None = None) -> job.RunSummary | State:
    """OCR an archive prefix, optionally a modified-time window, at most ``limit`` documents.

    ``since`` and ``until`` without a time zone are UTC.

    Resumable: committed batches are skipped, so re-running after a crash does only the rest.
    """
    return ingest(job.IngestRequest(source=source, lake=lake, flow="backfill", since=since,
                                    until=until, limit=limit,
                                    batch_pages=batch_pages or 0,
                                    max_in_flight=max_in_flight or 0), gpu)
