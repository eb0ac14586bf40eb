"""``ocr-pipeline ingest`` and ``ocr-pipeline backfill``: run the flows from a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import Any

from ocr_tasks.core.config import PipelineSettings


def _uri(value: str) -> str:
    """Local paths become absolute so worker processes resolve them identically."""
    return value if "://" in value else os.path.abspath(value)


def _when(value: str) -> datetime:
    """ISO date or datetime; naive values are UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _common(p: argparse.ArgumentParser) -> None:
    defaults = PipelineSettings()
    p.add_argument("source", help="folder or s3://bucket/prefix holding the documents")
    p.add_argument("--lake", required=True, help="folder or s3://bucket/prefix for the Parquet tables")
    p.add_argument("--batch-pages", type=int, default=defaults.batch_pages, help="pages per batch task")
    p.add_argument("--workers", type=int, default=defaults.workers, help="local Dask worker processes")
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
    backfill.add_argument("--since", type=_when, help="only objects modified at or after T (ISO)")
    backfill.add_argument("--until", type=_when, help="only objects modified before T (ISO)")
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
    from flows.ingest import BatchesFailed, backfill, nightly_ingest

    params: dict[str, Any] = {
        "source": _uri(args.source), "lake": _uri(args.lake), "batch_pages": args.batch_pages,
        "max_in_flight": args.max_in_flight,
    }
    if args.flow_name == "backfill":
        params.update(since=args.since, until=args.until, limit=args.limit)
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
    if isinstance(outcome, BatchesFailed):
        print(f"run FAILED ({api_url}): {outcome.summary.describe()}", file=sys.stderr)
        return 1
    if isinstance(outcome, BaseException):
        print(f"run FAILED ({api_url}): {type(outcome).__name__}: {outcome}", file=sys.stderr)
        return 1
    print(outcome.describe())
    print(f"tables: {params['lake']}/{{documents,pages,lines,words,errors,cer_samples,runs,batches}}")
    print(f"Prefect API: {api_url}")
    return 0
