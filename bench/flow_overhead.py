"""Flow overhead over the engine loop, measured so that the host's drift cancels out.

On this shared host the same pages take up to 10-15 % longer from one minute to the next,
as much as the overhead being measured. So the engine loop and a one-worker flow
(``ocr-pipeline ingest``: Prefect, Dask, Parquet, canaries, quality) alternate on the same
generated 200-dpi pages, both on the same single CPU, at the production batch size (so
canaries come at the production rate), reporting to one standing Prefect server and running
on one standing Dask worker, as in production: first on the fresh worker (the cold pair),
then ``--pairs`` times on the warm one. Each pair gives its ratios
(``ocr_tasks.benchmark.runner.overhead_pair``: command, batches, fixed_s); the figures are
the warm pairs' medians, with the cold pair beside them. Then ``--side-by-side`` flows on
the same worker run at the same time as the loop on that CPU, each measured in CPU seconds
per page over the same minutes (``runner.side_by_side``): the drift falls on both alike.
``bench/cost_per_page.py --overhead-pairs N --overhead-side-by-side M`` runs the same after
its rounds::

    .venv/bin/python bench/flow_overhead.py                 # 32 pages, 1 + 3 pairs, 3 beside
    .venv/bin/python bench/flow_overhead.py --pairs 0 --side-by-side 5   # ~10 min
    .venv/bin/python bench/flow_overhead.py --pages 64 --pairs 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ocr_tasks.benchmark.runner import overhead_medians, overhead_pairs  # noqa: E402
from ocr_tasks.core.config import EngineSettings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--side-by-side", type=int, default=3,
                    help="flows run at the same time as the loop, after the pairs")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ocr-bench"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    pairs = overhead_pairs(args.work, args.pairs, EngineSettings(), pages=args.pages,
                           side_by_side_runs=args.side_by_side)
    medians = overhead_medians(pairs)
    print(json.dumps(medians, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"pages": args.pages, "pairs": pairs, "median": medians},
                                        indent=1))


if __name__ == "__main__":
    main()
