"""The Prefect UI over the runs' own history: ``ocr-pipeline ui`` (``make ui``).

``ocr-pipeline ingest`` with no PREFECT_API_URL reports to a server it starts for the run and
stops at its end; the runs, their artifacts and CER trends stay in Prefect's SQLite database
under PREFECT_HOME (``~/.prefect/prefect.db``, or PREFECT_API_DATABASE_CONNECTION_URL). This
module serves that same database with ``prefect server start`` (API, UI) on
``ScheduleSettings.api_host:api_port`` (127.0.0.1:4200 by default, the address ``serve``
uses) until interrupted. While it runs, ``ingest`` reports to it directly
(``runtime.prefect_api``), so new runs appear live. Where PREFECT_API_URL names a server
(production), that server already has the UI: this only says where.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flows.runtime import PREFECT_QUIET_ENV, api_answers, local_api_url
from flows.serve import ServeError, sigterm_as_interrupt, start_prefect_server, stop_process
from ocr_tasks.core.config import ScheduleSettings


@dataclass(frozen=True)
class UiServer:
    """Where the UI is, which history it shows, and whether this process started it."""

    url: str
    database: str
    started: bool

    def describe(self) -> str:
        how = "started here" if self.started else "already running"
        return (f"Prefect UI: {self.url}/runs ({how}; run history in {self.database}; "
                f"API {self.url}/api)")


def history_database() -> str:
    """The database runs without PREFECT_API_URL are kept in, as a user would look for it:
    the SQLite file's path, or the database URL without its password."""
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_HOME
    from sqlalchemy.engine import make_url

    configured = PREFECT_API_DATABASE_CONNECTION_URL.value()
    if not configured:
        return str(Path(PREFECT_HOME.value()) / "prefect.db")
    url = make_url(configured)
    return str(url.database) if url.get_backend_name() == "sqlite" else url.render_as_string()


@contextlib.contextmanager
def ui_server(settings: ScheduleSettings) -> Iterator[UiServer]:
    """The configured server's UI; else a local one that answers already; else one started on
    the runs' database (stopped on exit)."""
    for key, value in PREFECT_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_UI_URL

    configured = PREFECT_API_URL.value()
    if configured:
        if not api_answers(configured, timeout_s=10.0):
            raise ServeError(f"no Prefect API answers at {configured} (PREFECT_API_URL)")
        ui = str(PREFECT_UI_URL.value() or configured.removesuffix("/api"))
        yield UiServer(ui.rstrip("/"), "the server's database (PREFECT_API_URL)", False)
        return
    api = local_api_url(settings.api_host, settings.api_port)
    database = history_database()
    if api_answers(api, timeout_s=1.0):
        yield UiServer(api.removesuffix("/api"), database, False)
        return
    log_path = Path(PREFECT_HOME.value()) / "ocr-ui-server.log"
    process = start_prefect_server(settings, log_path)
    try:
        yield UiServer(api.removesuffix("/api"), database, True)
    finally:
        stop_process(process)


def serve_ui(settings: ScheduleSettings, stop: threading.Event | None = None) -> UiServer:
    """Serve the UI until interrupted (or ``stop`` is set); print where it is first. Returns
    at once when the UI is another process's."""
    sigterm_as_interrupt()
    with ui_server(settings) as server:
        print(server.describe(), flush=True)
        if server.started:
            print("Ctrl-C stops it", flush=True)
            (stop or threading.Event()).wait()
    return server
