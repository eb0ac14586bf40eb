"""``ocr-pipeline evaluate``: score an engine on a labelled dataset.

stdout gets a compact summary JSON (pipe it to ``jq``); ``--json OUT`` also writes the
per-page figures. The engine is imported inside :func:`run` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ENGINES = ("ppocr", "tesseract")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score an OCR engine on a labelled dataset (FUNSD format)",
        description="Detection P/R/H-mean and AP@0.5, crop CER, end-to-end CER, "
        "bag-of-words F1 and seconds per page, as JSON on stdout.",
    )
    p.add_argument("--data", required=True, type=Path, metavar="DIR",
                   help="dataset folder (FUNSD: annotations/ and images/)")
    p.add_argument("--format", choices=["funsd"], default="funsd",
                   help="dataset layout (default: %(default)s)")
    p.add_argument("--json", dest="json_out", type=Path, metavar="OUT",
                   help="also write the full result, with per-page figures, to this file "
                   "(default: only the summary, on stdout)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="only the first N pages, sorted by id (default: all)")
    p.add_argument("--engine", choices=ENGINES, default="ppocr",
                   help="ppocr = our engine; tesseract = comparison baseline "
                   "(default: %(default)s)")
    p.add_argument("--backend", choices=["auto", "onnx", "torch"],
                   help="engine backend (default: OCR_ENGINE_BACKEND or 'auto')")
    p.add_argument("--threads", type=int, metavar="N",
                   help="intra-op threads (default: OCR_ENGINE_THREADS or 1)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=run)


def build_engine(name: str, backend: str | None = None, threads: int | None = None) -> Any:
    """The engine to evaluate; imports happen here so the CLI table stays light."""
    if name == "tesseract":
        from ocr_tasks.evaluation.tesseract import TesseractEngine, TesseractSettings

        return TesseractEngine(TesseractSettings(threads=threads or 1))
    from ocr_tasks.core.config import EngineSettings
    from ocr_tasks.engine.predictor import get_engine

    overrides: dict[str, Any] = {}
    if backend is not None:
        overrides["backend"] = backend
    if threads is not None:
        overrides["threads"] = threads
    return get_engine(EngineSettings(**overrides))


def run(args: argparse.Namespace) -> int:
    from ocr_tasks.cli.console import logs_above_bars, progress_enabled
    from ocr_tasks.core.errors import InputError
    from ocr_tasks.evaluation.funsd import evaluate_funsd, summary_only

    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    engine = build_engine(args.engine, args.backend, args.threads)
    with logs_above_bars():
        result = evaluate_funsd(args.data, engine, limit=args.limit,
                                progress=progress_enabled(args.progress))
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(summary_only(result), indent=2, ensure_ascii=False))
    return 0
