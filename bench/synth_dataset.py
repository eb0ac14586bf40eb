"""Synthetic dataset generation: pages per second and peak memory for N pages.

Writes N clean pages, then N augmented pages (PNG), into a temporary folder with
``datasets.synthetic.write_synthetic``; prints pages/s, MB written per page and the peak RSS
of this process (with ``--workers`` > 1, of the parent; each worker renders one page at a
time). Memory must not grow with N: the pages stream to disk and the card is tallied.

Run from the repository root::

    .venv/bin/python bench/synth_dataset.py              # 200 pages, 1 process
    .venv/bin/python bench/synth_dataset.py -n 10000 --workers 2 --image-format jpg
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ocr_tasks.datasets.synthetic import write_synthetic  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--pages", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--image-format", choices=["png", "jpg"], default="png")
    ap.add_argument("--sets", default="clean,augmented",
                    help="which sets to write, comma-separated (default: %(default)s)")
    args = ap.parse_args()
    print(f"{'set':10} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'MB/page':>8} "
          f"{'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for augment in [name == "augmented" for name in args.sets.split(",")]:
            out = Path(tmp) / ("augmented" if augment else "clean")
            start = time.perf_counter()
            write_synthetic(out, args.pages, args.seed, augment=augment, workers=args.workers,
                            image_format=args.image_format)
            seconds = time.perf_counter() - start
            print(f"{out.name:10} {args.pages:6d} {seconds:8.1f} {args.pages / seconds:8.2f} "
                  f"{folder_mb(out) / args.pages:8.2f} {peak_rss_mb():12.0f}", flush=True)


if __name__ == "__main__":
    main()
