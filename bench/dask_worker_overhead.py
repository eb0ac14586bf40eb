"""What a Dask worker process costs beside the OCR task it runs, with and without the
settings in ``ocr_tasks.core.worker_env.WORKER_DASK_CONFIG``.

The same task (the engine on N generated 200-dpi pages, loaded into memory first) runs in
this process and in a one-worker ``LocalCluster`` with Dask's defaults and with ours, all
pinned to one CPU. Each run reports the task thread's CPU and the whole process's: their
difference is what runs beside the task (Dask's stack sampler, event-loop ticks, system
monitor). Figures are ratios within one run of this script::

    .venv/bin/python bench/dask_worker_overhead.py            # 12 pages, 2 rounds
    .venv/bin/python bench/dask_worker_overhead.py --pages 20 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))



def dask_defaults(keys: Any) -> dict[str, Any]:
    """The values Dask ships for ``keys`` (its packages' defaults, before any environment
    variable or file of ours), so the comparison follows the installed version."""
    import dask
    import distributed  # noqa: F401 - registers distributed's defaults with dask.config

    shipped = dask.config.merge(*dask.config.defaults)
    return {key: dask.config.get(key, config=shipped) for key in keys}


def ocr_task(folder: str, pages: int) -> dict[str, float]:
    """OCR the set's first ``pages`` pages; CPU of this thread and of the whole process."""
    import psutil

    from ocr_tasks.benchmark.pageset import pages_of, synth_docs
    from ocr_tasks.core.config import EngineSettings
    from ocr_tasks.engine.predictor import get_engine

    engine = get_engine(EngineSettings())
    images = [image for doc in synth_docs(Path(folder), 200) for image in pages_of(doc, 200)]
    images = images[:pages]
    engine.recognize_pages(images[:1])  # warm
    proc = psutil.Process()
    t = proc.cpu_times()
    proc0, thread0, wall0 = t.user + t.system, time.thread_time(), time.perf_counter()
    for i in range(0, len(images), engine.pages_per_call):
        engine.recognize_pages(images[i:i + engine.pages_per_call])
    t = proc.cpu_times()
    return {"wall_s": time.perf_counter() - wall0, "task_cpu_s": time.thread_time() - thread0,
            "process_cpu_s": t.user + t.system - proc0}


def in_dask(config: dict[str, Any], folder: Path, pages: int) -> dict[str, float]:
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(config), LocalCluster(n_workers=1, threads_per_worker=1,
                                               processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            result: dict[str, float] = client.submit(ocr_task, str(folder), pages,
                                                     pure=False).result()
            return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ocr-bench"))
    ap.add_argument("--json", type=Path, help="write the runs as JSON here")
    args = ap.parse_args()
    from ocr_tasks.benchmark.pageset import make_synth_set
    from ocr_tasks.core.worker_env import WORKER_DASK_CONFIG, WORKER_THREAD_ENV

    os.environ.update(WORKER_THREAD_ENV)
    defaults = dask_defaults(WORKER_DASK_CONFIG)
    if hasattr(os, "sched_setaffinity"):  # one CPU for all: the worker inherits it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    folder = args.work / f"synth-{args.pages}-seed0-dpi200"
    make_synth_set(folder, args.pages, 0, (200,))
    runs: dict[str, list[dict[str, float]]] = {"process": [], "dask defaults": [], "ours": []}
    for _ in range(args.rounds):  # interleaved: the host's load falls on all alike
        runs["process"].append(ocr_task(str(folder), args.pages))
        runs["dask defaults"].append(in_dask(defaults, folder, args.pages))
        runs["ours"].append(in_dask(WORKER_DASK_CONFIG, folder, args.pages))
    base = sum(r["wall_s"] for r in runs["process"])
    out: dict[str, Any] = {"pages": args.pages, "rounds": args.rounds, "config": WORKER_DASK_CONFIG}
    print(f"{'system':<14} {'wall s/page':>11} {'vs process':>10} {'beside task':>11}")
    for name, rs in runs.items():
        wall = sum(r["wall_s"] for r in rs)
        beside = sum(r["process_cpu_s"] for r in rs) / sum(r["task_cpu_s"] for r in rs) - 1
        out[name] = {"wall_s_per_page": wall / (args.pages * args.rounds),
                     "wall_vs_process": wall / base, "cpu_beside_task": beside, "runs": rs}
        print(f"{name:<14} {wall / (args.pages * args.rounds):>11.3f} {wall / base:>10.3f} "
              f"{beside:>10.1%}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
