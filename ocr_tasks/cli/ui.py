"""``ocr-pipeline ui``: the Prefect UI over the run history of ``ingest`` and ``backfill``.

The Prefect side lives in ``flows/ui.py``; this module only turns flags into settings.
"""

from __future__ import annotations

import argparse
from typing import Any

from ocr_tasks.core.config import ScheduleSettings


def _default(name: str) -> str:
    field = ScheduleSettings.model_fields[name]
    return f"env OCR_SCHEDULE_{name.upper()}, default {field.default!r}"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ui", help="open the run history in the Prefect UI (serves the runs' local database)",
        description="Serve the Prefect UI (runs, their artifacts, the CER trend) over the "
        "database that runs without PREFECT_API_URL report to (~/.prefect/prefect.db under "
        "PREFECT_HOME), on --host:--port, until interrupted; print its address. While it "
        "runs, `ocr-pipeline ingest` reports to it and its runs appear live. With "
        "PREFECT_API_URL set, or a server already answering there, only print the address.")
    p.add_argument("--host", help="interface to listen on; 0.0.0.0 to reach the UI from "
                   f"other machines ({_default('api_host')})")
    p.add_argument("--port", type=int, help=f"port of the API and UI ({_default('api_port')})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = {"api_host": args.host, "api_port": args.port}
    settings = ScheduleSettings(**{k: v for k, v in overrides.items() if v is not None})

    from flows.ui import serve_ui

    try:
        serve_ui(settings)
    except KeyboardInterrupt:
        print("Prefect UI stopped", flush=True)
    return 0
