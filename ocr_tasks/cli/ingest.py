"""``ocr-pipeline ingest`` and ``ocr-pipeline backfill``: run the flows from a terminal."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, cast

from ocr_tasks.cli.args import uri, when
from ocr_tasks.core.config import PipelineSettings

if TYPE_CHECKING:
    from ocr_tasks.pipeline.job import RunSummary


def _common(p: argparse.ArgumentParser) -> None:
    defaults = PipelineSettings()
    p.add_argument("source", help="folder or s3://bucket/prefix holding the documents")
    p.add_argument(
        "--lake", required=True, help="folder or s3://bucket/prefix for the Parquet tables"
    )
    p.add_argument(
        "--batch-pages", type=int, default=defaults.batch_pages, help="pages per batch task"
    )
    p.add_argument(
        "--workers", type=int, default=defaults.workers, help="local Dask worker processes"
    )
    p.add_argument("--dask-address", default=defaults.dask_address, help="existing Dask scheduler")
    p.add_argument("--max-in-flight", type=int, default=defaults.max_batches_in_flight,
                   help="batches submitted at once (backpressure)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(sub: Any) -> None:
    ingest = sub.add_parser("ingest", help="nightly ingestion: OCR documents not yet in the lake")
    _common(ingest)
    ingest.set_defaults(func=run, flow_name="nightly_ingest")
    backfill = sub.add_parser("backfill", help="backfill an archive prefix (resumable)")
    _common(backfill)
    backfill.add_argument("--since", type=when, help="only objects modified at or after T (ISO)")
    backfill.add_argument("--until", type=when, help="only objects modified before T (ISO)")
    backfill.add_argument("--limit", type=int, help="at most N documents")
    backfill.set_defaults(func=run, flow_name="backfill")


def _progress_bar(enabled: bool) -> Any:
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
    from ocr_tasks.core.errors import ExitCode, OcrPipelineError, exit_code
    from ocr_tasks.pipeline.job import check_source

    params: dict[str, Any] = {
        "source": uri(args.source), "lake": uri(args.lake), "batch_pages": args.batch_pages,
        "max_in_flight": args.max_in_flight,
    }
    if args.flow_name == "backfill":
        params.update(since=args.since, until=args.until, limit=args.limit)
    check_source(params["source"], params["lake"])  # one line now, not a failed flow run later
    runtime.quiet_dask_logs()
    bar, unsubscribe = _progress_bar(not args.no_progress)
    try:
        with runtime.prefect_api() as api_url:
            params["gpu"] = runtime.cluster_has_gpus(args.dask_address)
            flow = nightly_ingest if args.flow_name == "nightly_ingest" else backfill
            runner = runtime.dask_task_runner(args.workers, args.dask_address)
            state = flow.with_options(task_runner=runner)(**params, return_state=True)
            outcome = state.result(raise_on_failure=False)
    finally:
        bar.close()
        unsubscribe()
    if isinstance(outcome, OcrPipelineError):
        print(f"run FAILED ({api_url}): {outcome.message}", file=sys.stderr)
        return exit_code(outcome)
    if isinstance(outcome, BaseException):
        print(f"run FAILED ({api_url}): {type(outcome).__name__}: {outcome}", file=sys.stderr)
        return ExitCode.FAILED
    print(cast("RunSummary", outcome).describe())
    print(
        f"tables: {params['lake']}/{{documents,pages,lines,words,errors,cer_samples,runs,batches}}"
    )
    print(f"Prefect API: {api_url}")
    return ExitCode.OK
