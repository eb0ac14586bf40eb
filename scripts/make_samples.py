"""Regenerate the bundled sample archive (samples/archive) from its seed.

    .venv/bin/python scripts/make_samples.py [--out samples/archive] [--seed 7]

The archive is committed; rerun after changing ocr_tasks/synth and commit the result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ocr_tasks.synth.archive import make_sample_archive

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "samples" / "archive")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    files = make_sample_archive(args.out, seed=args.seed)
    stale = sorted(set(p for p in args.out.rglob("*") if p.is_file()) - set(files))
    for path in stale:  # left by an older generator: reported, never deleted automatically
        print(f"stale (not written by this run, delete it): {path}", file=sys.stderr)
    total = sum(p.stat().st_size for p in files)
    for path in files:
        print(f"{path.stat().st_size:>9,}  {path.relative_to(args.out)}")
    print(f"{len(files)} files, {total / 1e6:.2f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
