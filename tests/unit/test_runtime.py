"""Where a run's local Dask cluster listens, and what its shutdown logs."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from flows.runtime import dask_task_runner


def test_local_dashboard_listens_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import LocalCluster

    monkeypatch.delenv("OCR_DASK_DASHBOARD", raising=False)
    address = dask_task_runner(2).cluster_kwargs["dashboard_address"]
    assert address == "127.0.0.1:0"
    with LocalCluster(n_workers=0, processes=False, dashboard_address=address) as cluster:
        sockets = cluster.scheduler.http_server._sockets.values()
        assert {s.getsockname()[0] for s in sockets} == {"127.0.0.1"}
    monkeypatch.setenv("OCR_DASK_DASHBOARD", "")
    assert dask_task_runner(2).cluster_kwargs["dashboard_address"] is None  # off


def test_local_workers_run_without_dasks_stack_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings reach the worker processes a nanny starts; the environment still wins."""
    import threading

    import dask
    from distributed import Client, LocalCluster

    def worker_view() -> tuple[Any, Any, bool]:
        return (dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.admin.tick.interval"),
                any(t.name == "Profile" for t in threading.enumerate()))

    # Dask's defaults, restored on exit for the rest of this process
    with dask.config.set({"distributed.worker.profile.enabled": True,
                          "distributed.admin.tick.interval": "20ms"}):
        monkeypatch.delenv("DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL", raising=False)
        monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "True")
        dask_task_runner(1)
        assert dask.config.get("distributed.worker.profile.enabled") is True  # env: kept
        monkeypatch.delenv("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED")
        dask_task_runner(1)
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            assert list(client.run(worker_view).values()) == [(False, "1s", False)]


def test_local_workers_start_with_the_projects_allocator_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask's nanny would start them with MALLOC_TRIM_THRESHOLD_=65536 (every image buffer
    mapped and faulted in afresh); the environment's value wins over its own."""
    from distributed import Client, LocalCluster

    from ocr_tasks.core.worker_env import WORKER_MALLOC_ENV

    for key in WORKER_MALLOC_ENV:  # whatever this process had, restored on exit
        monkeypatch.delenv(key, raising=False)
    dask_task_runner(1)

    def worker_view() -> dict[str, str | None]:
        return {key: os.environ.get(key) for key in WORKER_MALLOC_ENV}

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert list(client.run(worker_view).values()) == [WORKER_MALLOC_ENV]
    assert WORKER_MALLOC_ENV["MALLOC_TRIM_THRESHOLD_"] != "65536"


def test_local_workers_run_opencv_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV's pool ignores OMP_NUM_THREADS and starts a thread per CPU: unset, each of
    several workers on a host would spread its image work over every core."""
    from distributed import Client, LocalCluster

    monkeypatch.delenv("OPENCV_FOR_THREADS_NUM", raising=False)
    dask_task_runner(1)

    def worker_view() -> int:
        import cv2

        return int(cv2.getNumThreads())

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert list(client.run(worker_view).values()) == [1]


def test_routine_worker_kill_at_shutdown_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    dask_task_runner(1)
    dask_task_runner(1)  # once per process, however many runs
    nanny = logging.getLogger("distributed.nanny")
    assert sum(type(f).__name__ == "_DropWorkerKill" for f in nanny.filters) == 1
    with caplog.at_level(logging.WARNING, logger="distributed.nanny"):
        nanny.warning("Worker process still alive after 4.0 seconds, killing")
        nanny.warning("Restarting worker")
    assert [r.getMessage() for r in caplog.records] == ["Restarting worker"]


def test_a_run_ends_by_saying_where_to_see_it() -> None:
    from flows.runtime import PrefectApi

    run_id = "6f1c2a3e-0000-4000-8000-000000000001"
    temporary = PrefectApi("http://127.0.0.1:53613/api", "http://127.0.0.1:4200", True)
    assert temporary.run_link(run_id) == (
        "run history: `ocr-pipeline ui` (or `make ui`) serves it, then open "
        f"http://127.0.0.1:4200/runs/flow-run/{run_id}")  # not the server gone with the run
    served = PrefectApi("https://prefect.example/api", "https://prefect.example", False)
    assert served.run_link(run_id) == (
        f"run in the Prefect UI: https://prefect.example/runs/flow-run/{run_id}")
    assert served.run_link(None) == "run in the Prefect UI: https://prefect.example/runs"


def test_the_ui_shows_where_runs_without_an_api_keep_their_history(tmp_path: Path) -> None:
    from prefect.settings import (
        PREFECT_API_DATABASE_CONNECTION_URL,
        PREFECT_HOME,
        temporary_settings,
    )

    from flows.ui import history_database

    with temporary_settings(updates={PREFECT_HOME: str(tmp_path)},
                            restore_defaults={PREFECT_API_DATABASE_CONNECTION_URL}):
        assert history_database() == str(tmp_path / "prefect.db")
    url = "postgresql+asyncpg://prefect:s3cret@db:5432/prefect"
    with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL: url}):
        assert history_database() == "postgresql+asyncpg://prefect:***@db:5432/prefect"


def test_a_run_against_a_standing_server_does_not_load_the_server() -> None:
    # production's case: importing Prefect's server modules costs seconds of every command
    import subprocess
    import sys

    code = ("import sys\n"
            "from flows.runtime import prefect_api\n"
            "with prefect_api() as api:\n"
            "    assert not api.temporary, api\n"
            "print('prefect.server.api.server' in sys.modules)\n")
    env = {"PREFECT_API_URL": "http://127.0.0.1:9/api", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
