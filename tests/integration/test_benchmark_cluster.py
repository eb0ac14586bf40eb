"""The benchmark's standing Dask cluster: real ``dask scheduler`` and ``dask worker``
processes whose worker runs as production's image runs it (``core.worker_env``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def test_standing_cluster_workers_get_the_worker_environment_and_the_cpus(
        tmp_path: Path) -> None:
    from distributed import Client

    from ocr_tasks.benchmark.systems import standing_dask_cluster

    def worker_view() -> dict[str, Any]:  # local: the worker gets it by value
        import threading

        import dask

        return {"omp": os.environ.get("OMP_NUM_THREADS"),
                "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                "api": os.environ.get("PREFECT_API_URL"),
                "tick": dask.config.get("distributed.admin.tick.interval"),
                "sampler": any(t.name == "Profile" for t in threading.enumerate()),
                "cpus": sorted(os.sched_getaffinity(0))}

    cpus = sorted(os.sched_getaffinity(0))[:1]
    api = "http://127.0.0.1:9/api"
    with standing_dask_cluster(cpus, {"PREFECT_API_URL": api}, tmp_path) as address:
        with Client(address, timeout="30s") as client:
            (view,) = client.run(worker_view).values()
    assert view == {"omp": "1", "trim": str(64 * 2**20), "api": api, "tick": "1s",
                    "sampler": False, "cpus": cpus}
    assert len(list(tmp_path.glob("bench-dask-worker-*.log"))) == 1


def test_standing_cluster_starts_as_many_workers_as_asked_on_the_cpus_given(
        tmp_path: Path) -> None:
    from distributed import Client

    from ocr_tasks.benchmark.systems import standing_dask_cluster

    def worker_view() -> tuple[str | None, list[int], int]:
        import cv2

        return os.environ.get("OMP_NUM_THREADS"), sorted(os.sched_getaffinity(0)), \
            cv2.getNumThreads()

    cpus = sorted(os.sched_getaffinity(0))[:2]
    with standing_dask_cluster(cpus, {}, tmp_path, workers=2) as address:
        with Client(address, timeout="30s") as client:
            views = list(client.run(worker_view).values())
            threads = sorted(client.nthreads().values())
    # OpenCV's pool too keeps to one thread, though each worker may run on both CPUs
    assert views == [("1", cpus, 1), ("1", cpus, 1)]
    assert threads == [1, 1]  # two single-threaded worker processes, not one with two threads


def test_engine_loop_process_runs_every_thread_on_its_cpus() -> None:
    """The overhead chain's loop shares the flow worker's one CPU: all of its threads, those
    its engine's runtime starts as well as the one that calls it, as the worker's are."""
    import pytest

    from ocr_tasks.benchmark.systems import EngineSystem
    from ocr_tasks.core.config import EngineSettings

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to tell a pinned thread from an unpinned one")
    engine = EngineSystem("engine", EngineSettings(), [], cpus[:1])
    try:
        placed = engine.affinity()
        engine.pin(cpus[1:2])
        moved = engine.affinity()
    finally:
        engine.close()
    assert len(placed) > 1  # the runtime's threads are there to be checked
    assert set(map(tuple, placed.values())) == {tuple(cpus[:1])}
    assert set(map(tuple, moved.values())) == {tuple(cpus[1:2])}
