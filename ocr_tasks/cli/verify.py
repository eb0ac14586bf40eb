"""``ocr-pipeline verify``: check the lake's invariants; non-zero exit with the list otherwise."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ocr_tasks.cli.args import uri


def register(sub: Any) -> None:
    p = sub.add_parser(
        "verify", help="check every source document is in the lake exactly once",
        description="Check the lake's invariants: every document once, no duplicate rows, "
        "complete commits. Exit 0 when they hold, 1 with the list of problems otherwise.")
    p.add_argument("--lake", required=True, help="folder or s3://bucket/prefix of the lake")
    p.add_argument("--source", help="folder or s3://bucket/prefix whose documents must all "
                   "appear (default: only the documents the lake knows are checked)")
    p.add_argument("--max-problems", type=int, default=200, metavar="N",
                   help="problems printed, all are counted (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ocr_tasks.core.errors import ExitCode
    from ocr_tasks.io.storage import open_store
    from ocr_tasks.lake.tables import Lake
    from ocr_tasks.lake.verify import verify_lake

    source = open_store(uri(args.source)) if args.source else None
    report = verify_lake(Lake.open_existing(uri(args.lake)), source)
    for problem in report.problems[: args.max_problems]:
        print(f"  {problem}", file=sys.stderr)
    hidden = len(report.problems) - args.max_problems
    if hidden > 0:
        print(f"  ... and {hidden} more", file=sys.stderr)
    print(report.describe())
    return ExitCode.OK if report.ok else ExitCode.FAILED
