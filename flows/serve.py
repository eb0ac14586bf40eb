"""The embedded way to run the product on a schedule: Prefect's ``serve`` on one host.

One long-lived process registers two deployments with a Prefect API and executes their runs
itself, as local subprocesses, with no work pool and no worker:

- ``nightly-ingest/nightly``: the nightly ingestion of ``ScheduleSettings.source`` into
  ``ScheduleSettings.lake``, on ``cron`` read in ``timezone``, one run at a time;
- ``backfill/backfill``: on demand (``prefect deployment run backfill/backfill --param ...``,
  or the UI), with the same lake by default.

The API is ``PREFECT_API_URL`` when set; otherwise a Prefect server on
``api_host:api_port`` (default 127.0.0.1:4200) that already answers, or one this process
starts there (``prefect server start``: API, UI and the scheduler service, run history in
SQLite under ``PREFECT_HOME``) and stops when it exits. Flow runs inherit the environment,
so ``OCR_DASK_ADDRESS`` / ``OCR_WORKERS`` and the ``OCR_S3_*`` / ``AWS_*`` settings reach them
and their Dask workers. Schedules are paused when serve stops, so a host that is down does not
pile up late runs; starting serve again resumes them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flows.runtime import ANY_INTERFACE, PREFECT_QUIET_ENV, api_answers, local_api_url
from ocr_tasks.core.config import PipelineSettings, ScheduleSettings
from ocr_tasks.core.errors import InputError

NIGHTLY = "nightly-ingest/nightly"
BACKFILL = "backfill/backfill"
SCHEDULE_SLUG = "nightly"
TAGS = ["ocr", "serve"]


class ServeError(InputError):
    """serve cannot start: a missing setting, a bad schedule, no Prefect API."""


def check_schedule(settings: ScheduleSettings) -> None:
    """Fail before anything starts: the nightly needs a source and a lake and a valid cron."""
    from prefect.client.schemas.schedules import CronSchedule

    missing = [name for name in ("source", "lake") if not getattr(settings, name)]
    if missing:
        raise ServeError(
            f"the nightly schedule needs {' and '.join(missing)}: pass SOURCE and --lake, or set "
            + " and ".join(f"OCR_SCHEDULE_{name.upper()}" for name in missing))
    try:
        CronSchedule(cron=settings.cron, timezone=settings.timezone)
    except ValueError as e:
        raise ServeError(f"invalid schedule {settings.cron!r} ({settings.timezone}): {e}") from e


def build_deployments(settings: ScheduleSettings) -> list[Any]:
    """The nightly (scheduled) and backfill (on demand) deployments of ``flows/ingest.py``.

    Entrypoints are module paths (``flows.ingest.nightly_ingest``), so runs import the
    installed package whatever directory serve was started from.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.ingest import backfill, nightly_ingest

    check_schedule(settings)
    defaults = PipelineSettings()  # the one owner of the batch defaults
    batching = {"batch_pages": settings.batch_pages or defaults.batch_pages,
                "max_in_flight": settings.max_in_flight or defaults.max_batches_in_flight}
    nightly = nightly_ingest.to_deployment(
        name="nightly",
        description=f"Nightly ingestion of {settings.source} into {settings.lake} "
                    f"({settings.cron}, {settings.timezone}); served by ocr-pipeline serve.",
        schedules=[Cron(settings.cron, timezone=settings.timezone, active=settings.active,
                        slug=SCHEDULE_SLUG)],
        parameters={"source": settings.source, "lake": settings.lake, **batching},
        concurrency_limit=1,
        tags=TAGS,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    backfill_deployment = backfill.to_deployment(
        name="backfill",
        description="Backfill of an archive prefix on demand (since/until/limit); resumable. "
                    "Served by ocr-pipeline serve.",
        parameters={"source": settings.source, "lake": settings.lake, **batching},
        concurrency_limit=1,
        tags=TAGS,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return [nightly, backfill_deployment]


def start_prefect_server(settings: ScheduleSettings, log_path: Path) -> subprocess.Popen[bytes]:
    """``prefect server start`` (API, UI, scheduler) on api_host:api_port; returns once it
    answers."""
    env = {**os.environ, **PREFECT_QUIET_ENV, "PREFECT_SERVER_API_HOST": settings.api_host,
           "PREFECT_SERVER_API_PORT": str(settings.api_port)}
    env.pop("PREFECT_API_URL", None)
    # Where the browser finds the API: this host's name when the server listens on every
    # interface (override with PREFECT_UI_API_URL behind a proxy or a DNS name).
    host = socket.gethostname() if settings.api_host in ANY_INTERFACE else settings.api_host
    env.setdefault("PREFECT_UI_API_URL", f"http://{host}:{settings.api_port}/api")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start",
             "--host", settings.api_host, "--port", str(settings.api_port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    url = local_api_url(settings.api_host, settings.api_port)
    deadline = time.monotonic() + settings.api_startup_timeout_s
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise ServeError(f"the Prefect server exited with {process.returncode}: {tail}")
            if api_answers(url, timeout_s=1.0):
                return process
            time.sleep(0.5)
        raise ServeError(f"the Prefect server did not answer at {url} within "
                         f"{settings.api_startup_timeout_s:.0f} s (log: {log_path})")
    except BaseException:
        stop_process(process)
        raise


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def prefect_api(settings: ScheduleSettings) -> Iterator[str]:
    """Yield the API URL to serve against: the configured one, a local server already
    answering on api_host:api_port, or one started here (and stopped on exit)."""
    for key, value in PREFECT_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        if not api_answers(configured, timeout_s=10.0):
            raise ServeError(f"no Prefect API answers at {configured} (PREFECT_API_URL)")
        yield configured
        return
    url = local_api_url(settings.api_host, settings.api_port)
    process = None
    if not api_answers(url):
        log_path = Path(PREFECT_HOME.value()) / "ocr-serve-server.log"
        print(f"starting a Prefect server on {url.removesuffix('/api')} (log: {log_path})",
              flush=True)
        process = start_prefect_server(settings, log_path)
    os.environ["PREFECT_API_URL"] = url  # flow-run subprocesses and their Dask workers
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        if process is not None:
            stop_process(process)


def sigterm_as_interrupt() -> None:
    """SIGTERM (docker stop, systemd, kill) shuts serve down like Ctrl-C: schedules paused,
    the Prefect server it started stopped."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def serve(settings: ScheduleSettings) -> None:
    """Register the deployments and execute their runs until interrupted."""
    from prefect import serve as prefect_serve

    check_schedule(settings)
    sigterm_as_interrupt()
    try:
        with prefect_api(settings) as api_url:
            deployments = build_deployments(settings)
            state = "active" if settings.active else "paused"
            print(f"Prefect API {api_url}: {NIGHTLY} on '{settings.cron}' ({settings.timezone}, "
                  f"{state}), {BACKFILL} on demand; {settings.source} -> {settings.lake}",
                  flush=True)
            prefect_serve(*deployments, limit=settings.concurrent_runs)
    except KeyboardInterrupt:
        print("serve stopped", flush=True)
