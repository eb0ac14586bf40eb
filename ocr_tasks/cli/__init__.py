"""``ocr-pipeline`` console script.

Each subcommand lives in the module that owns its logic and exposes ``register(subparsers)``;
this file only lists them, so the CLI stays a thin table of contents. Expected failures
(``OcrPipelineError``) end here as one line and the exit code ``core.errors.exit_code`` maps
them to; ``--debug`` shows the traceback. Modules are imported
lazily so ``ocr-pipeline --help`` does not load torch or Prefect.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ocr_tasks.core.errors import ExitCode, OcrPipelineError, exit_code

# subcommand -> module exposing register(subparsers) and the handler set via set_defaults(func=...)
COMMANDS: dict[str, str] = {
    "ocr": "ocr_tasks.cli.ocr",
    "evaluate": "ocr_tasks.cli.evaluate",
    "ingest": "ocr_tasks.cli.ingest",
    "backfill": "ocr_tasks.cli.ingest",
    "verify": "ocr_tasks.cli.verify",
    "compact": "ocr_tasks.cli.compact",
    "report": "ocr_tasks.cli.report",
    "query": "ocr_tasks.cli.query",
    "audit-import": "ocr_tasks.cli.report",
    "serve": "ocr_tasks.cli.serve",
    "models": "ocr_tasks.cli.models",
    "synth-dataset": "ocr_tasks.cli.synth_dataset",
    "ui": "ocr_tasks.cli.ui",
    "train": "ocr_tasks.cli.train",
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocr-pipeline", description="Batch OCR for scanned document archives.",
        epilog="Exit codes: " + ", ".join(f"{c.value} {c.name.lower()}" for c in ExitCode),
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a failure instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    first = next((a for a in argv if not a.startswith("-")), None)
    wanted = first if first in COMMANDS else None
    registered: set[str] = set()
    for name, module_name in COMMANDS.items():
        if module_name in registered:
            continue
        if wanted is not None and COMMANDS[wanted] != module_name:
            sub.add_parser(name, help=f"see `ocr-pipeline {name} --help`")  # not loaded
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
        return ExitCode.BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except OcrPipelineError as e:
        if args.debug:
            raise
        print(f"error ({e.kind}): {e.message}", file=sys.stderr)
        return exit_code(e)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

