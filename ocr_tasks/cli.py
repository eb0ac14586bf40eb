"""``ocr-pipeline`` console script.

Each subcommand lives in the module that owns its logic and exposes ``register(subparsers)``;
this file only lists them, so the CLI stays a thin table of contents. Modules are imported
lazily so ``ocr-pipeline --help`` does not load torch or Prefect.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> module exposing register(subparsers) and the handler set via set_defaults(func=...)
COMMANDS: dict[str, str] = {
    "ocr": "ocr_tasks.commands.ocr",
    "evaluate": "ocr_tasks.commands.evaluate",
    "ingest": "ocr_tasks.commands.ingest",
    "backfill": "ocr_tasks.commands.ingest",
    "verify": "ocr_tasks.commands.verify",
    "report": "ocr_tasks.commands.report",
    "audit-import": "ocr_tasks.commands.report",
    "serve": "ocr_tasks.commands.serve",
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocr-pipeline", description="Batch OCR for scanned document archives."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    registered: set[str] = set()
    for name, module_name in COMMANDS.items():
        if module_name in registered:
            continue
        if wanted is not None and COMMANDS[wanted] != module_name:
            sub.add_parser(name, help=f"see `ocr-pipeline {name} --help`")
            continue
        module = importlib.import_module(module_name)
        module.register(sub)
        registered.add(module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
