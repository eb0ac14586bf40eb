"""Where a run's local Dask cluster listens, and what its shutdown logs."""

from __future__ import annotations

import logging

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


def test_routine_worker_kill_at_shutdown_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    dask_task_runner(1)
    dask_task_runner(1)  # once per process, however many runs
    nanny = logging.getLogger("distributed.nanny")
    assert sum(type(f).__name__ == "_DropWorkerKill" for f in nanny.filters) == 1
    with caplog.at_level(logging.WARNING, logger="distributed.nanny"):
        nanny.warning("Worker process still alive after 4.0 seconds, killing")
        nanny.warning("Restarting worker")
    assert [r.getMessage() for r in caplog.records] == ["Restarting worker"]
