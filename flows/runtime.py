"""Where the job runs: the Prefect API it reports to and the Dask cluster it fans out to.

Defaults are embedded so ``make run`` needs nothing: a local Prefect API (one server
subprocess on loopback, SQLite under PREFECT_HOME, shared by every Dask worker; or the
server of ``ocr-pipeline ui`` when it runs) and a ``LocalCluster`` of single-threaded
worker processes. In production PREFECT_API_URL names
a Prefect server on PostgreSQL and ``--dask-address`` an existing cluster whose GPU workers
declare ``--resources GPU=1``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ocr_tasks.core.loopback import answers, free_port
from ocr_tasks.core.worker_env import (
    WORKER_DASK_CONFIG,
    WORKER_MEMORY_LIMIT,
    dask_env_name,
    worker_os_env,
)
from ocr_tasks.engine.backends import cuda_device_count

log = logging.getLogger(__name__)

PREFECT_QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


ANY_INTERFACE = ("0.0.0.0", "", "::")


def local_api_url(host: str, port: int) -> str:
    """The API of a Prefect server on this host, as a client here reaches it."""
    reach = "127.0.0.1" if host in ANY_INTERFACE else host
    return f"http://{reach}:{port}/api"


def api_answers(api_url: str, timeout_s: float = 2.0) -> bool:
    return answers(f"{api_url}/health", timeout_s)


@dataclass(frozen=True)
class PrefectApi:
    """The API a run reports to, and where its history can be seen afterwards.

    ``temporary``: a server started for this run alone, gone when the run ends; its runs
    stay in the SQLite database under PREFECT_HOME, which ``ocr-pipeline ui`` serves on
    ``ui`` (ScheduleSettings.api_host / api_port, as ``ocr-pipeline serve``).
    """

    url: str
    ui: str
    temporary: bool

    def run_link(self, flow_run_id: Any) -> str:
        """The line a command ends with: how to open this run in the Prefect UI."""
        page = f"{self.ui}/runs/flow-run/{flow_run_id}" if flow_run_id else f"{self.ui}/runs"
        if self.temporary:
            return (f"run history: `ocr-pipeline ui` (or `make ui`) serves it, then open "
                    f"{page}")
        return f"run in the Prefect UI: {page}"


@contextlib.contextmanager
def prefect_api() -> Iterator[PrefectApi]:
    """The API runs report to: PREFECT_API_URL when configured; else a Prefect server that
    already answers on this host's UI address (``ocr-pipeline ui`` or ``serve``: the run
    shows up live); else a local server started for this run.

    Exporting PREFECT_API_URL matters: Dask worker processes inherit it, so they report to
    the same API instead of each starting an ephemeral one on the same SQLite file.
    """
    for key, value in PREFECT_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from ocr_tasks.core.config import ScheduleSettings

    configured = PREFECT_API_URL.value()  # environment, profile, or a test harness
    if configured:
        yield PrefectApi(configured, str(PREFECT_UI_URL.value() or configured), False)
        return

    settings = ScheduleSettings()
    local = local_api_url(settings.api_host, settings.api_port)
    ui = local.removesuffix("/api")
    server = None
    if api_answers(local, timeout_s=1.0):
        api = PrefectApi(local, ui, False)
    else:  # the server's modules take seconds to import: only where one is started
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer(port=free_port())
        timeout = int(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
        server.start(timeout=timeout)
        api = PrefectApi(server.api_url, ui, True)
    os.environ["PREFECT_API_URL"] = api.url
    try:  # Prefect's own "View at" line then names the UI that stays, not this server
        with temporary_settings(updates={PREFECT_API_URL: api.url, PREFECT_UI_URL: api.ui}):
            yield api
            drain_prefect_workers()
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        if server is not None:
            server.stop()


def drain_prefect_workers() -> None:
    """Send buffered logs and events before the local API goes away (as Prefect's harness does)."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        with contextlib.suppress(RuntimeError):  # a worker that never started
            pending = APILogWorker.instance().drain()
            if inspect.isawaitable(pending):
                await pending
        events = EventsWorker.drain_all()
        if inspect.isawaitable(events):
            await events

    run_coro_as_sync(drain())


class _DropWorkerKill(logging.Filter):
    """Drops the nanny's "Worker process still alive after 4.0 seconds, killing": when a
    local cluster closes at the end of a run, a worker still tearing down torch and
    onnxruntime gets 4 s (hard-coded in distributed) and is then killed, which costs
    nothing, its work being committed, but read like a failure on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Worker process still alive after")


def quiet_worker_kills() -> None:
    """Install :class:`_DropWorkerKill` on the nanny's logger once per process."""
    nanny = logging.getLogger("distributed.nanny")
    if not any(isinstance(f, _DropWorkerKill) for f in nanny.filters):
        nanny.addFilter(_DropWorkerKill())


def quiet_dask_logs() -> None:
    """Dask logs every worker start and stop at INFO; the CLI shows a progress bar instead."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # worker processes
    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core",
                 "distributed.worker", "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def tune_local_dask() -> None:
    """Apply :data:`WORKER_DASK_CONFIG` in this process, whose nannies hand their config to
    the workers they start; a setting already in the environment wins."""
    import dask

    dask.config.set({key: value for key, value in WORKER_DASK_CONFIG.items()
                     if dask_env_name(key) not in os.environ})


def dask_task_runner(workers: int, address: str | None = None) -> Any:
    """prefect-dask runner: an existing cluster by address, else a LocalCluster whose
    dashboard listens on loopback (``OCR_DASK_DASHBOARD``), whose workers run without
    Dask's stack sampler (:data:`WORKER_DASK_CONFIG`) and whose nannies do not log the
    routine kill of a slow-to-exit worker at shutdown."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    for key, value in worker_os_env().items():  # the nannies hand it to their workers
        os.environ.setdefault(key, value)
    tune_local_dask()
    quiet_worker_kills()
    return DaskTaskRunner(cluster_kwargs=local_cluster_kwargs(workers, cuda_device_count()))


def local_cluster_kwargs(workers: int, gpus: int) -> dict[str, Any]:
    """A LocalCluster of single-threaded worker processes; on a host with GPUs, one worker
    per GPU declaring ``GPU=1`` (OCR batches ask for it, see :func:`gpu_annotation`)."""
    from ocr_tasks.core.config import PipelineSettings

    kwargs: dict[str, Any] = {
        "n_workers": gpus or workers,
        "threads_per_worker": 1,
        "processes": True,
        # a free port on loopback: never another cluster's port, never every interface
        "dashboard_address": PipelineSettings().dask_dashboard or None,
        "memory_limit": WORKER_MEMORY_LIMIT,
    }
    if gpus:
        kwargs["resources"] = {"GPU": 1}
    return kwargs


def cluster_has_gpus(address: str | None) -> bool:
    """True when any worker of the cluster declares a GPU resource (a local cluster: when
    this host has GPUs, see :func:`local_cluster_kwargs`)."""
    if not address:
        return cuda_device_count() > 0
    from distributed import Client

    with Client(address, timeout="30s") as client:
        workers = client.scheduler_info().get("workers", {}).values()
        return any(w.get("resources", {}).get("GPU", 0) > 0 for w in workers)


def gpu_annotation(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Route OCR batches to GPU workers: one GPU per batch, when the cluster has them."""
    if not enabled:
        return contextlib.nullcontext()
    import dask

    return dask.annotate(resources={"GPU": 1})
