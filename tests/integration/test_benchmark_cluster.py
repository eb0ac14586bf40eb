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
                "api": os.environ.get("PREFECT_API_URL"),
                "tick": dask.config.get("distributed.admin.tick.interval"),
                "sampler": any(t.name == "Profile" for t in threading.enumerate()),
                "cpus": sorted(os.sched_getaffinity(0))}

    cpus = sorted(os.sched_getaffinity(0))[:1]
    api = "http://127.0.0.1:9/api"
    with standing_dask_cluster(cpus, {"PREFECT_API_URL": api}, tmp_path) as address:
        with Client(address, timeout="30s") as client:
            (view,) = client.run(worker_view).values()
    assert view == {"omp": "1", "api": api, "tick": "1s", "sampler": False, "cpus": cpus}
    assert (tmp_path / "bench-dask-worker.log").is_file()
