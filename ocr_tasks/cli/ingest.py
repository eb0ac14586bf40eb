"""``ocr-pipeline ingest`` and ``ocr-pipeline backfill``: run the flows from a terminal."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, cast

from ocr_tasks.cli.args import uri, when
from ocr_tasks.cli.console import logs_above_bars, progress_enabled, quiet_child_consoles
from ocr_tasks.core.config import PipelineSettings

if TYPE_CHECKING:
    from ocr_tasks.pipeline.job import RunSummary


def _common(p: argparse.ArgumentParser) -> None:
    defaults = PipelineSettings()
    p.add_argument("source", metavar="SOURCE",
                   help="folder or s3://bucket/prefix holding the documents")
    p.add_argument("--lake", required=True,
                   help="folder or s3://bucket/prefix for the Parquet tables")
    p.add_argument("--batch-pages", type=int, default=defaults.batch_pages, metavar="N",
                   help="pages per batch task (default: %(default)s; env OCR_BATCH_PAGES)")
    p.add_argument("--workers", type=int, default=defaults.workers, metavar="N",
                   help="local Dask worker processes (default: %(default)s; env OCR_WORKERS)")
    p.add_argument("--dask-address", default=defaults.dask_address, metavar="ADDR",
                   help="existing Dask scheduler, e.g. tcp://scheduler:8786 (default: "
                   "OCR_DASK_ADDRESS, else a local cluster of --workers processes)")
    p.add_argument("--max-in-flight", type=int, default=defaults.max_batches_in_flight,
                   metavar="N", help="batches submitted at once, for backpressure "
                   "(default: %(default)s; env OCR_MAX_BATCHES_IN_FLIGHT)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def register(sub: Any) -> None:
    ingest = sub.add_parser(
        "ingest", help="nightly ingestion: OCR documents not yet in the lake",
        description="OCR every document under SOURCE that the lake does not hold yet (the "
        "nightly-ingest flow), on a local Dask cluster or --dask-address. PDF pages whose text "
        "layer covers them are read from it (OCR_PDF_TEXT=auto|use|ocr, default auto); "
        "OCR_EXPORTS=pdf,hocr,alto,json also writes those files per document into the lake.")
    _common(ingest)
    ingest.set_defaults(func=run, flow_name="nightly_ingest")
    backfill = sub.add_parser(
        "backfill", help="backfill an archive prefix (resumable)",
        description="OCR an archive prefix, optionally a modified-time window and at most N "
        "documents (the backfill flow). Re-running it resumes where it stopped.")
    _common(backfill)
    backfill.add_argument("--since", type=when, metavar="T",
                          help="only objects modified at or after T, ISO date or datetime; "
                          "without a time zone UTC (default: no lower bound)")
    backfill.add_argument("--until", type=when, metavar="T",
                          help="only objects modified before T, as --since (default: no "
                          "upper bound)")
    backfill.add_argument("--limit", type=int, metavar="N",
                          help="at most N documents (default: all)")
    backfill.set_defaults(func=run, flow_name="backfill")


def _progress_bar(enabled: bool) -> Any:
    """A page bar fed by the run's progress events (``core.progress``)."""
    from tqdm import tqdm

    from ocr_tasks.core import progress

    bar = tqdm(total=0, unit="page", disable=not enabled, file=sys.stderr, dynamic_ncols=True)

    def on_event(event: str, data: dict[str, Any]) -> None:
        if event == "planned":
            bar.total += data["pages"]
            bar.refresh()
        elif event == "batch":
            bar.update(data["pages"])
            result = data["result"]
            bar.set_postfix(errors=result.errors, refresh=False)

    unsubscribe = progress.subscribe(on_event)
    return bar, unsubscribe


def run(args: argparse.Namespace) -> int:
    from flows import runtime
    from flows.ingest import backfill, nightly_ingest
    from ocr_tasks.core.errors import ExitCode, OcrPipelineError, RunDegraded, exit_code
    from ocr_tasks.pipeline.job import check_source

    params: dict[str, Any] = {
        "source": uri(args.source), "lake": uri(args.lake), "batch_pages": args.batch_pages,
        "max_in_flight": args.max_in_flight,
    }
    if args.flow_name == "backfill":
        params.update(since=args.since, until=args.until, limit=args.limit)
    check_source(params["source"], params["lake"])  # one line now, not a failed flow run later
    runtime.quiet_dask_logs()
    show_bar = progress_enabled(args.progress)
    bar, unsubscribe = _progress_bar(show_bar)
    try:
        with logs_above_bars(), quiet_child_consoles(show_bar), \
                runtime.prefect_api() as api:
            params["gpu"] = runtime.cluster_has_gpus(args.dask_address)
            flow = nightly_ingest if args.flow_name == "nightly_ingest" else backfill
            runner = runtime.dask_task_runner(args.workers, args.dask_address)
            state = flow.with_options(task_runner=runner)(**params, return_state=True)
            outcome = state.result(raise_on_failure=False)
    finally:
        bar.close()
        unsubscribe()
    link = api.run_link(state.state_details.flow_run_id)
    if isinstance(outcome, RunDegraded):  # the Degraded state: committed, quality flagged
        outcome = outcome.summary
    if isinstance(outcome, OcrPipelineError):
        print(f"run FAILED: {outcome.message}\n{link}", file=sys.stderr)
        return exit_code(outcome)
    if isinstance(outcome, BaseException):
        print(f"run FAILED: {type(outcome).__name__}: {outcome}\n{link}", file=sys.stderr)
        return ExitCode.FAILED
    summary = cast("RunSummary", outcome)
    print(summary.describe())
    print(f"tables: {params['lake']}/"
          "{documents,pages,lines,words,errors,cer_samples,runs,batches}")
    print(link)
    if summary.verdict is not None and summary.verdict.degraded:
        print(f"run DEGRADED: {'; '.join(a.describe() for a in summary.verdict.alerts)}")
        return ExitCode.DEGRADED
    return ExitCode.OK
