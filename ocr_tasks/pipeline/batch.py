"""Run one planned batch on a worker: read, rasterize, OCR, write the lake, commit.

Idempotent by construction: the batch id fixes every file name, a committed batch is not
redone, and the commit record is written last. Pages stream one at a time from the source
file; recognition is batched across a few pages at once. Input faults become error rows and
the batch goes on; storage faults propagate so the orchestrator retries the whole batch.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ocr_tasks.core.config import EngineSettings, LimitSettings, PipelineSettings
from ocr_tasks.core.errors import (
    BadSidecar,
    ExportFailed,
    OcrPipelineError,
    SourceChanged,
    StorageUnreachable,
    error_kind,
    is_retryable,
)
from ocr_tasks.core.prefetch import prefetch
from ocr_tasks.document import Document, Page
from ocr_tasks.engine.backends import cuda_device_count
from ocr_tasks.io.storage import ObjectStore, escape_undecodable, file_content_id, open_store
from ocr_tasks.lake.leases import check_lease
from ocr_tasks.lake.rows import BatchContext, BatchRow, DocumentRow, ErrorRow, Row, page_rows
from ocr_tasks.lake.tables import Lake, export_key
from ocr_tasks.page_image import PageImage
from ocr_tasks.pipeline.planning import BatchSpec, WorkItem
from ocr_tasks.quality.batch_quality import BatchQuality, SourceDocument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    """What a batch did; also its row in the ``batches`` table."""

    batch_id: str
    run_id: str
    documents: int
    pages: int
    errors: int
    seconds: float
    worker: str
    model_version: str
    canary_pages: int = 0
    cer: float | None = None
    cer_low: float | None = None
    cer_high: float | None = None
    replayed: bool = False  # True when the batch was already committed and not redone

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    def to_row(self) -> BatchRow:
        return BatchRow(self.batch_id, self.run_id, self.documents, self.pages, self.errors,
                        self.canary_pages, self.seconds, self.pages_per_s, self.cer,
                        self.cer_low, self.cer_high, self.worker, self.model_version)


@dataclass
class _ItemTally:
    pages_ok: int = 0
    pages_failed: int = 0
    doc_error: bool = False
    pages: list[Page] = field(default_factory=list)  # kept only when exports are asked for
    images: dict[int, bytes] = field(default_factory=dict)  # page JPEGs of the PDF export
    exports: list[str] = field(default_factory=list)  # lake keys of its export files


@dataclass
class _BatchRows:
    """Rows accumulated for one batch, keyed by lake table."""

    tables: dict[str, list[Row | dict[str, Any]]] = field(
        default_factory=lambda: {t: [] for t in ("documents", "pages", "lines", "words", "errors")}
    )

    def extend(self, more: dict[str, list[Row]]) -> None:  # noqa: D102
        for table, rows in more.items():
            self.tables.setdefault(table, []).extend(rows)


def worker_device(settings: EngineSettings, gpus: int | None = None) -> EngineSettings:
    """On a host with several GPUs, local Dask worker N (workers are named 0, 1, ...) runs on
    GPU N modulo their count: one worker per GPU. A named device is left as set."""
    if settings.device not in ("auto", "cuda") or settings.backend in ("onnx", "openvino"):
        return settings
    count = cuda_device_count() if gpus is None else gpus
    if count < 2:
        return settings
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return settings
    if not isinstance(name, int):
        return settings
    return settings.model_copy(update={"device": f"cuda:{name % count}"})


def worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}-{os.getpid()}"


def run_batch(
    spec: BatchSpec,
    *,
    engine: Any | None = None,
    source: ObjectStore | None = None,
    lake: Lake | None = None,
    engine_settings: EngineSettings | None = None,
    limits: LimitSettings | None = None,
    pipeline: PipelineSettings | None = None,
) -> BatchResult:
    """OCR one batch and commit it to the lake.

    Everything it touches can be passed in (a unit test drives one batch with its own
    engine, stores and settings); what is not passed comes from the worker: the process-wide
    engine, the stores named by the spec, and settings from the environment.
    """
    engine_settings = engine_settings or EngineSettings()
    if spec.model:  # the version the run resolved at its start, whatever this worker's env says
        engine_settings = engine_settings.model_copy(update={"model": spec.model})
    limits = limits or LimitSettings()
    pipeline = pipeline or PipelineSettings()
    lake = lake or Lake.open(spec.lake_uri)
    if lake.is_committed(spec.batch_id):
        return replayed_result(lake, spec)

    started = time.perf_counter()
    if engine is None:
        from ocr_tasks.engine.predictor import get_engine

        engine = get_engine(worker_device(engine_settings))
    ctx = BatchContext(spec.run_id, spec.batch_id, spec.ingest_date, engine.model_version)
    rows = _BatchRows()
    tallies = {id(item): _ItemTally() for item in spec.items}
    now = datetime.now(UTC)

    def error_row(
        item: WorkItem, page: int | None, exc_kind: str, message: str, retryable: bool
    ) -> None:
        rows.tables["errors"].append(
            error_record(item, page, exc_kind, message, retryable, ctx, now))

    for item in spec.items:
        if item.probe.failed and not item.is_duplicate:
            tallies[id(item)].doc_error = True
            error_row(item, None, item.probe.error_kind or "internal",
                      item.probe.error_message or "", item.probe.retryable)

    pending: list[tuple[WorkItem, PageImage, float]] = []
    store = source or open_store(spec.source_uri)
    quality = BatchQuality(spec.run_id, spec.batch_id, store, engine, pipeline, lake.store,
                           spec.canaries)

    formats = pipeline.export_formats

    def accept(item: WorkItem, image: PageImage, page: Page) -> None:
        rows.extend(page_rows(item.probe.doc_id, page, ctx,
                              review_confidence=pipeline.review_confidence))
        tally = tallies[id(item)]
        tally.pages_ok += 1
        if formats:
            tally.pages.append(page)
            if "pdf" in formats:
                from ocr_tasks.exports.pdf import page_jpeg

                tally.images[page.index] = page_jpeg(image.image)
        if page.text_source == "ocr":  # quality measures OCR; a text layer is exact
            probe = item.probe
            quality.observe(
                SourceDocument(probe.doc_id, probe.ref.uri, probe.ref.key, probe.format),
                image,
                page,
            )

    def flush() -> None:
        for item, image, page in recognize_safely(engine, pending, error_row, tallies):
            accept(item, image, page)
        pending.clear()

    from ocr_tasks.io.text_layer import layer_page

    def batch_pages() -> Iterator[tuple[WorkItem, PageImage, float]]:
        for item in spec.items:
            if item.probe.failed or item.pages == 0:
                continue
            try:
                yield from ((item, page_image, seconds) for page_image, seconds in stream_pages(
                    store, item, engine_settings, limits, error_row, tallies,
                    text_layer=pipeline.pdf_text != "ocr"))
            except StorageUnreachable:
                raise
            except OcrPipelineError as exc:
                tallies[id(item)].doc_error = True
                error_row(item, None, exc.kind, exc.message, exc.retryable)

    pages_per_call = engine.pages_per_call
    # on a GPU the next pages rasterize on a CPU thread while the engine works (bounded)
    for item, page_image, seconds in prefetch(batch_pages(), getattr(engine, "prefetch_pages", 0)):
        from_layer = layer_page(page_image, pipeline.pdf_text, seconds)
        if from_layer is not None:  # born-digital: no OCR
            accept(item, page_image, from_layer)
            continue
        pending.append((item, page_image, seconds))
        if len(pending) >= pages_per_call:
            flush()
    flush()

    files: dict[str, bytes] = {}
    for item in spec.items:
        tally = tallies[id(item)]
        made, failed = render_exports(item, tally, formats, ctx)
        files.update(made)
        for message in failed:
            error_row(item, None, ExportFailed.kind, message, False)
        tally.images.clear()
        rows.tables["documents"].append(document_row(item, tally, ctx, now))
    by_doc = {item.probe.doc_id: item for item in spec.items}
    for doc_id, message in quality.sidecar_problems:  # the document itself is fine
        error_row(by_doc[doc_id], None, BadSidecar.kind, message, False)
    measured = quality.finish()  # canaries go through the same engine; never into customer tables
    rows.tables["cer_samples"] = list[Row | dict[str, Any]](measured.rows)

    result = BatchResult(
        batch_id=spec.batch_id,
        run_id=spec.run_id,
        documents=spec.documents,
        pages=sum(t.pages_ok for t in tallies.values()),
        errors=len(rows.tables["errors"]),
        seconds=time.perf_counter() - started,
        worker=worker_name(),
        model_version=engine.model_version,
        canary_pages=measured.canary_pages,
        cer=measured.cer,
        cer_low=measured.cer_low,
        cer_high=measured.cer_high,
    )
    rows.tables["batches"] = [result.to_row()]
    fence = (lambda: check_lease(lake.store, spec.run_id)) if spec.fenced else None
    lake.write_batch(ctx, rows.tables, before_visible=fence, exports=files)
    return result


def export_name(item: WorkItem, fmt: str) -> str:
    """``<doc_id><suffix>`` for a whole document; a segment of a long document split across
    batches is ``<doc_id>.pages-<first>-<last><suffix>`` (1-based, inclusive)."""
    from ocr_tasks.exports import SUFFIXES

    probe = item.probe
    if item.page_start == 0 and item.page_end >= probe.pages:
        return f"{probe.doc_id}{SUFFIXES[fmt]}"
    return f"{probe.doc_id}.pages-{item.page_start + 1}-{item.page_end}{SUFFIXES[fmt]}"


def render_exports(item: WorkItem, tally: _ItemTally, formats: tuple[str, ...],
                   ctx: BatchContext) -> tuple[dict[str, bytes], list[str]]:
    """The export files of one document's pages in this batch (name -> bytes; their keys go
    to ``tally.exports``) and a message per format whose renderer failed: that file is
    missing, the document and its other exports are kept."""
    if not formats or item.is_duplicate or not tally.pages:
        return {}, []
    from ocr_tasks.exports import render

    uri = item.probe.ref.uri
    document = Document(uri, tuple(sorted(tally.pages, key=lambda p: p.index)),
                        item.probe.doc_id)
    out: dict[str, bytes] = {}
    failed: list[str] = []
    for fmt in formats:
        try:
            out[export_name(item, fmt)] = render(document, (fmt,), tally.images)[fmt]
        except Exception as exc:  # noqa: BLE001 - one document's export, not the batch
            log.warning("%s: %s export failed: %s", uri, fmt, exc)
            failed.append(f"{uri}: {fmt} export failed: {type(exc).__name__}: {exc}")
    tally.exports.extend(export_key(ctx, name) for name in out)
    return out, failed


def stream_pages(
    store: Any,
    item: WorkItem,
    settings: EngineSettings,
    limits: LimitSettings,
    error_row: Any,
    tallies: dict[int, _ItemTally],
    *,
    text_layer: bool = False,
) -> Iterator[tuple[PageImage, float]]:
    """Yield the item's pages one at a time with their rasterize time; page faults are rows.

    The file must still be the content that was probed (its hash is the document id): an
    object replaced since raises :class:`SourceChanged`, a retryable document error, so no
    page of the new content is stored under the old content's id.
    """
    from ocr_tasks.io import rasterize

    with store.local_path(item.probe.ref.key) as path:
        if file_content_id(path) != item.probe.doc_id:
            raise SourceChanged(f"{item.probe.ref.uri} changed after it was probed; the next "
                                "run reads the new content")
        pages = rasterize.iter_pages(path, dpi=settings.dpi, limits=limits, start=item.page_start,
                                     stop=item.page_end, fmt=item.probe.format,
                                     name=item.probe.ref.uri, text_layer=text_layer)
        while True:
            t0 = time.perf_counter()
            try:
                got = next(pages)
            except StopIteration:
                return
            if isinstance(got, rasterize.PageFailure):
                tallies[id(item)].pages_failed += 1
                error_row(item, got.index, got.error.kind, got.error.message, got.error.retryable)
                continue
            yield got, time.perf_counter() - t0


def recognize_safely(
    engine: Any,
    pending: list[tuple[WorkItem, PageImage, float]],
    error_row: Any,
    tallies: dict[int, _ItemTally],
) -> Iterator[tuple[WorkItem, PageImage, Page]]:
    """OCR pages together; if that fails, page by page, so one bad page costs one error row."""
    if not pending:
        return
    try:
        pages = engine.recognize_pages([p for _, p, _ in pending])
        groups = [(entry, page) for entry, page in zip(pending, pages, strict=True)]
    except Exception:  # noqa: BLE001 - isolate the faulty page below
        log.warning("engine failed on %d pages together; retrying one by one", len(pending))
        groups = []
        for entry in pending:
            try:
                groups.append((entry, engine.recognize_pages([entry[1]])[0]))
            except Exception as exc:  # noqa: BLE001 - recorded as an error row
                item, image, _ = entry
                tallies[id(item)].pages_failed += 1
                error_row(item, image.index, error_kind(exc), f"{type(exc).__name__}: {exc}",
                          is_retryable(exc))
    for (item, image, raster_s), page in groups:
        yield item, image, replace(page, timings={"rasterize": raster_s, **page.timings})


def error_record(item: WorkItem, page: int | None, kind: str, message: str, retryable: bool,
                 ctx: BatchContext, now: datetime) -> ErrorRow:
    """A row of the ``errors`` table. Messages name files, whose names may hold bytes that
    are not UTF-8 (a sidecar's path, a parser's text): escaped here, the one door to the lake,
    as in ``source_uri`` (a Parquet string that cannot be encoded fails the whole batch)."""
    return ErrorRow(item.probe.doc_id, item.probe.ref.uri, page, kind,
                    escape_undecodable(message), retryable, ctx.run_id, ctx.batch_id, now)


def document_row(
    item: WorkItem, tally: _ItemTally, ctx: BatchContext, now: datetime
) -> DocumentRow:
    probe = item.probe
    if item.is_duplicate:
        status = "duplicate"
    elif tally.doc_error and tally.pages_ok == 0:
        status = "error"
    elif tally.doc_error or tally.pages_failed:
        status = "partial"
    else:
        status = "ok"
    return DocumentRow(probe.doc_id, probe.ref.uri, probe.ref.size, probe.pages, item.page_start,
                       item.page_end, status, probe.format, probe.ref.mtime, probe.ref.etag,
                       ctx.run_id, ctx.batch_id, ctx.model_version, now,
                       list(tally.exports) or None)


def replayed_result(lake: Lake, spec: BatchSpec) -> BatchResult:
    """A batch committed by an earlier attempt: report it, write nothing."""
    record = lake.commit_record(spec.batch_id)
    return BatchResult(
        batch_id=spec.batch_id,
        run_id=record.run_id if record else spec.run_id,
        documents=spec.documents,
        pages=record.rows("pages") if record else 0,
        errors=record.rows("errors") if record else 0,
        seconds=0.0,
        worker=worker_name(),
        model_version=record.model_version if record else "",
        replayed=True,
    )


def record_batch_failure(
    spec: BatchSpec, exc: BaseException, model_version: str = ""
) -> BatchResult:
    """Account for every document of a batch that failed for good: error rows, retryable.

    Written as its own committed batch so the next run retries these documents.
    """
    failed_spec = replace(spec, batch_id=spec.batch_id + "-failed")
    lake = Lake.open(spec.lake_uri)
    ctx = BatchContext(spec.run_id, failed_spec.batch_id, spec.ingest_date, model_version)
    now = datetime.now(UTC)
    message = f"batch {spec.batch_id} failed: {type(exc).__name__}: {exc}"
    docs: list[Row] = []
    errors: list[Row] = []
    for item in spec.items:
        row = document_row(item, _ItemTally(doc_error=True), ctx, now)
        if not item.is_duplicate:
            kind = error_kind(exc) if error_kind(exc) != "internal" else "batch_failed"
            errors.append(error_record(item, None, kind, message, True, ctx, now))
        docs.append(row)
    result = BatchResult(failed_spec.batch_id, spec.run_id, spec.documents, 0, len(errors), 0.0,
                         worker_name(), model_version)
    lake.write_batch(ctx, {"documents": docs, "errors": errors, "batches": [result.to_row()]})
    return result
