"""Flow overhead over the engine loop, measured so that the host's drift cancels out.

On this shared host the same pages take up to 10-15 % longer from one minute to the next,
as much as the overhead being measured. So the engine loop and a one-worker flow
(``ocr-pipeline ingest``: Prefect, Dask, Parquet, canaries, quality) alternate ``--pairs``
times on the same generated pages, both on the same single CPU, and each pair gives a ratio.
The figure is the median of the pairs' ratios:

* ``command``: the whole command's wall time per page against the loop's;
* ``batches``: inside the batches (read, OCR, canaries, quality, rows, commit);
* ``batches_steady``: the same with the worker's one-off engine load taken out (as the
  engine's own process measured it: start, imports, load): what a long backfill pays per page;
* ``fixed_s``: the command's seconds outside its batches (start, plan, report, shutdown),
  which a run pays once whatever its size.

The flows report to one standing Prefect server, as in production, and run with the
production batch size, so their canaries come at the production rate::

    .venv/bin/python bench/flow_overhead.py                 # 32 pages, 3 pairs (~7 min)
    .venv/bin/python bench/flow_overhead.py --pages 64 --pairs 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ocr_tasks.benchmark.pageset import make_synth_set, synth_docs  # noqa: E402
from ocr_tasks.benchmark.systems import (  # noqa: E402
    EngineSystem,
    flow_cores,
    run_flow,
    standing_prefect_server,
)
from ocr_tasks.core.config import EngineSettings, PipelineSettings  # noqa: E402


def pair_figures(engine: Any, flow: Any, load_s: float) -> dict[str, float]:
    """One pair's ratios (see the module's docstring)."""
    write_s = sum(r.timings.get("write", 0.0) for r in engine.results)  # as a batch does
    per_page = (engine.wall_s + write_s) / engine.pages
    batches = flow.extra["batch_seconds"]
    return {
        "engine_s_per_page": per_page,
        "flow_s_per_page": flow.wall_s / flow.pages,
        "command": flow.wall_s / flow.pages / per_page - 1,
        "batches": batches / flow.pages / per_page - 1,
        "batches_steady": (batches - load_s) / flow.pages / per_page - 1,
        "fixed_s": flow.wall_s - batches,
        "canary_pages": flow.extra["canary_pages"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ocr-bench"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import psutil

    folder = args.work / f"synth-{args.pages}-seed0-dpi200"
    make_synth_set(folder, args.pages, 0, (200,))
    docs = synth_docs(folder, 200)
    cpus = flow_cores(1, True)
    engine = EngineSystem("engine", EngineSettings(), docs[:1])
    for child in psutil.Process().children() if cpus else []:  # the engine on the flow's CPU
        child.cpu_affinity(cpus)
    pairs: list[dict[str, float]] = []
    lake = args.work / "lake-flow-overhead"
    try:
        with standing_prefect_server(args.work / "prefect-home") as server:
            for i in range(args.pairs):
                loop = engine.run(docs)
                shutil.rmtree(lake, ignore_errors=True)
                flow = run_flow(folder, lake, 1, batch_pages=PipelineSettings().batch_pages,
                                env=server.env, cpus=cpus)
                pairs.append(pair_figures(loop, flow, engine.load_cpu_s))
                print(f"pair {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in pairs[-1].items()),
                      flush=True)
    finally:
        engine.close()
    median = {k: statistics.median(p[k] for p in pairs) for k in pairs[0]}
    print(f"median of {len(pairs)} pairs ({args.pages} pages, CPUs {cpus}): "
          f"command {median['command']:+.1%}, batches {median['batches']:+.1%}, steady "
          f"{median['batches_steady']:+.1%}, "
          f"fixed {median['fixed_s']:.1f} s per run, engine load {engine.load_cpu_s:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"pages": args.pages, "cpus": cpus, "pairs": pairs,
                                         "median": median, "load_s": engine.load_cpu_s},
                                        indent=1))


if __name__ == "__main__":
    main()
