"""Cost per page: the engine alone, the full flow (1 and 2 workers) and Tesseract, in one run.

    .venv/bin/python bench/cost_per_page.py [--pages 100] [--funsd DIR] [--funsd-pages 50]
        [--systems previous engine flow-1 flow-2 tesseract] [--json OUT] [--work DIR]

``make bench`` runs it with the defaults. On a generated set of mixed documents with known
text (150-300 dpi PDFs, TIFFs, PNGs and JPEGs: forms, schedules, letters) and on a FUNSD-format
folder (default ../shared/data/funsd-train when present), it measures, interleaved in chunks:
the engine alone in a plain loop ('engine': today's defaults; 'previous': the settings before
the fast CPU path; more configurations by name, see --help), the full flow ('ocr-pipeline
ingest': Prefect + Dask + Parquet) with 1 and 2 workers, and Tesseract 5 (OMP_THREAD_LIMIT=1,
one process per core; 'make bench-deps' installs it). Per system: pages/s (wall), CPU s/page
and per stage, peak RSS per worker, word H-mean and end-to-end CER. Prints the table and the
comparisons, and writes everything as JSON (default bench/results/cost_per_page-<time>.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocr_tasks.benchmark.report import table  # noqa: E402
from ocr_tasks.benchmark.runner import (  # noqa: E402
    DEFAULT_SYSTEMS,
    BenchConfig,
    known_systems,
    run_benchmark,
)
from ocr_tasks.core.config import EngineSettings  # noqa: E402

DEFAULT_FUNSD = ROOT.parent / "shared" / "data" / "funsd-train"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=100, help="generated pages (0: none)")
    ap.add_argument("--funsd", type=Path, default=DEFAULT_FUNSD if DEFAULT_FUNSD.is_dir() else None,
                    help="FUNSD-format folder (default: %(default)s)")
    ap.add_argument("--funsd-pages", type=int, default=50, help="FUNSD pages (0: none)")
    ap.add_argument("--funsd-split", choices=("train", "val", "test"),
                    help="only the FUNSD pages of this split (the rule `ocr-pipeline train "
                    "--fractions` splits by): measure a trained model on pages it never saw")
    ap.add_argument("--fractions", default="0.8,0.2,0",
                    help="train,val,test shares for --funsd-split (default: %(default)s, the "
                    "README's training command)")
    ap.add_argument("--model", help="a stored model version (its folder or s3:// URI) run "
                    "as the system 'trained' beside today's engine")
    ap.add_argument("--systems", nargs="+", default=list(DEFAULT_SYSTEMS),
                    choices=known_systems(), metavar="NAME",
                    help=f"any of {' '.join(known_systems())}")
    ap.add_argument("--dpi", type=int, nargs="+", default=[150, 200, 300],
                    help="resolutions of the generated documents")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk-pages", type=int, default=10, help="pages per interleaved round")
    ap.add_argument("--flow-batch-pages", type=int, default=None,
                    help="--batch-pages of the flows (default: 55 %% of --pages: two batches)")
    ap.add_argument("--flow-cores", choices=("matched", "all"), default="matched",
                    help="CPUs of each flow: as many as its workers (default: a scaling "
                    "figure), or all of the host's")
    ap.add_argument("--overhead-pairs", type=int, default=0,
                    help="after the rounds, alternate the engine loop and a one-worker flow "
                    "this many times on 32 generated pages (drift-proof flow overhead)")
    ap.add_argument("--overhead-side-by-side", type=int, default=0,
                    help="after the pairs, this many one-worker flows on the same worker, each "
                    "with the engine loop running at the same time on its CPU: CPU s/page of "
                    "both over the same minutes (the overhead without the host's drift)")
    ap.add_argument("--scaling-pairs", type=int, default=0,
                    help="after the rounds, alternate the one-worker and the two-worker flow "
                    "this many times on the generated set, each on a standing cluster of its "
                    "own (drift-proof scaling)")
    ap.add_argument("--scaling-host-pages", type=int, default=32,
                    help="with --scaling-pairs, plain engine loops (one process, then two at "
                    "once) on this many of the pages between the flows: the host's own 2-core "
                    "ceiling (0: none; default: %(default)s)")
    ap.add_argument("--device", default="auto",
                    help="engine device: auto, cpu, cuda, cuda:N (cuda: torch fp16)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ocr-bench"),
                    help="generated pages, lakes (kept for the next run)")
    ap.add_argument("--json", type=Path, help="output (default bench/results/cost_per_page-*.json)")
    args = ap.parse_args(argv)

    shares = tuple(float(x) for x in args.fractions.split(","))
    if len(shares) != 3:
        ap.error("--fractions takes three shares: train,val,test")
    systems = list(args.systems)
    if args.model and "trained" not in systems:
        systems.insert(systems.index("engine") + 1 if "engine" in systems else 0, "trained")
    cfg = BenchConfig(work=args.work, pages=args.pages, funsd=args.funsd,
                      funsd_pages=args.funsd_pages, funsd_split=args.funsd_split,
                      fractions=(shares[0], shares[1], shares[2]), model=args.model,
                      systems=systems, seed=args.seed,
                      dpis=args.dpi, chunk_pages=args.chunk_pages,
                      flow_batch_pages=args.flow_batch_pages,
                      flow_matched_cores=args.flow_cores == "matched",
                      overhead_pairs=args.overhead_pairs,
                      overhead_side_by_side=args.overhead_side_by_side,
                      scaling_pairs=args.scaling_pairs,
                      scaling_host_pages=args.scaling_host_pages,
                      engine=EngineSettings(device=args.device))
    started = time.strftime("%Y%m%dT%H%M%S")
    result = run_benchmark(cfg, log=lambda m: print(m, file=sys.stderr, flush=True))
    result["command"] = " ".join(["bench/cost_per_page.py", *(argv or sys.argv[1:])])
    result["started"] = started
    print(table(result["rows"]))
    print("CPU/pg: CPU s/page of all threads and children (flows: every process, Prefect "
          "server included); wCPU/pg: the flow's Dask workers; stages: CPU s/page, '~' = wall "
          "s/page from the lake's page timings")
    for key, value in result["comparisons"].items():
        print(f"{key:42} {value}")
    for row in result["rows"]:
        if str(row.get("device", "")).startswith("cuda"):
            split = ", ".join(f"{k} {v:.4f}" for k, v in row["stage_wall_s"].items() if v)
            print(f"{row['system']} on {row.get('gpu')} ({row['set']}): "
                  f"{row['pages_per_s']} pages/s per GPU; wall s/page: {split}; "
                  f"GPU memory peak {row.get('gpu_peak_mb')} MB")
    out = args.json or ROOT / "bench" / "results" / f"cost_per_page-{started}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
