"""``ocr-pipeline compact``: small files into large ones, and a fresh checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from ocr_tasks.cli.args import uri


def register(sub: Any) -> None:
    help_text = ("rewrite each partition's small files into large ones (safe while "
                 "ingestion runs) and fold the commit log into a checkpoint")
    p = sub.add_parser("compact", help=help_text,
                       description=help_text[0].upper() + help_text[1:] + ".")
    p.add_argument("--lake", required=True, type=uri, help="folder or s3://bucket/prefix")
    p.add_argument("--target-mb", type=int, default=128, metavar="MB",
                   help="size of the files written (default: %(default)s MB)")
    p.add_argument("--delete-after-s", type=float, default=None, metavar="S",
                   help="keep replaced small files this long for readers still using them "
                   "(default: the log's margin, 3600 s); they are deleted by a later compact")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ocr_tasks.core.errors import ExitCode
    from ocr_tasks.lake.maintenance import compact
    from ocr_tasks.lake.tables import Lake

    report = compact(Lake.open_existing(args.lake), target_bytes=args.target_mb * 1024 * 1024,
                     delete_after_s=args.delete_after_s)
    print(report.describe())
    return ExitCode.OK
