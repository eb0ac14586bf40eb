"""``ocr-pipeline serve``: the nightly schedule and on-demand backfills on one host.

The embedded way to run the product on a schedule: no work pool, no worker, no other
infrastructure. The Prefect side lives in ``flows/serve.py``; this module only turns flags and
``OCR_SCHEDULE_*`` settings into a :class:`ScheduleSettings`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ocr_tasks.core.config import PipelineSettings, ScheduleSettings
from ocr_tasks.core.errors import ExitCode


def _uri(value: str) -> str:
    """Local paths become absolute: runs execute in subprocesses with their own directory."""
    return value if "://" in value else os.path.abspath(value)


def _default(name: str) -> str:
    field = ScheduleSettings.model_fields[name]
    return f"env OCR_SCHEDULE_{name.upper()}, default {field.default!r}"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="run the nightly ingestion on its schedule and serve backfills (one host)",
        description="Register nightly-ingest/nightly (scheduled) and backfill/backfill (on "
        "demand) with a Prefect API and run them here until interrupted. The API is "
        "PREFECT_API_URL (or --api-url) when set, else a Prefect server on --host:--port that "
        "answers already or that serve starts (UI included) and stops on exit.")
    p.add_argument("source", nargs="?", help="folder or s3://bucket/prefix the nightly run "
                   "ingests (env OCR_SCHEDULE_SOURCE; no default: one of them is required)")
    p.add_argument("--lake",
                   help="folder or s3://bucket/prefix of the lake (env OCR_SCHEDULE_LAKE; no "
                   "default: one of them is required)")
    p.add_argument("--cron", help=f"5-field cron of the nightly run ({_default('cron')})")
    p.add_argument("--timezone", help=f"IANA time zone of the cron ({_default('timezone')})")
    p.add_argument("--paused", action="store_true",
                   help="register the schedule paused: runs on demand only "
                   "(env OCR_SCHEDULE_ACTIVE=false)")
    p.add_argument("--batch-pages", type=int, help=f"pages per batch ({_default('batch_pages')})")
    p.add_argument("--max-in-flight", type=int,
                   help=f"batches submitted at once ({_default('max_in_flight')})")
    p.add_argument("--concurrent-runs", type=int,
                   help=f"flow runs executed at once on this host ({_default('concurrent_runs')})")
    p.add_argument("--workers", type=int,
                   help="local Dask worker processes of each run (env OCR_WORKERS, default "
                   f"{PipelineSettings.model_fields['workers'].default})")
    p.add_argument("--dask-address", help="existing Dask scheduler (env OCR_DASK_ADDRESS; "
                   "default: a local cluster per run)")
    p.add_argument("--api-url", help="Prefect API to serve against (env PREFECT_API_URL; "
                   "default: a Prefect server on --host:--port)")
    p.add_argument("--host", help=f"interface of a started Prefect server ({_default('api_host')})")
    p.add_argument("--port", type=int,
                   help=f"port of a started Prefect server ({_default('api_port')})")
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> ScheduleSettings:
    """Flags override ``OCR_SCHEDULE_*``; local source and lake become absolute paths."""
    overrides: dict[str, Any] = {
        "source": args.source, "lake": args.lake, "cron": args.cron, "timezone": args.timezone,
        "batch_pages": args.batch_pages, "max_in_flight": args.max_in_flight,
        "concurrent_runs": args.concurrent_runs, "api_host": args.host, "api_port": args.port,
    }
    if args.paused:
        overrides["active"] = False
    settings = ScheduleSettings(**{k: v for k, v in overrides.items() if v is not None})
    paths = {k: _uri(v) for k in ("source", "lake") if (v := getattr(settings, k))}
    return settings.model_copy(update=paths)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        settings = settings_from_args(args)
    except ValidationError as e:
        print(f"serve: {e}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    # Flow runs are subprocesses that read these from the environment (flows.ingest).
    if args.workers is not None:
        os.environ["OCR_WORKERS"] = str(args.workers)
    if args.dask_address:
        os.environ["OCR_DASK_ADDRESS"] = args.dask_address
    if args.api_url:
        os.environ["PREFECT_API_URL"] = args.api_url

    from flows import runtime
    from flows.serve import ServeError, serve

    runtime.quiet_dask_logs()
    try:
        serve(settings)
    except ServeError as e:
        print(f"serve: {e}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    return ExitCode.OK
