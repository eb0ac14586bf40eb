"""Side-by-side benchmark: our engine and Tesseract on the same FUNSD pages, in one run.

Both engines go through ``ocr_tasks.evaluation.funsd.evaluate_funsd``, so quality figures use
the same metric code and speed is measured the same way (engine calls only; CPU includes Tesseract's
child processes). Our engine runs with its default backend and 1 thread, Tesseract with
``OMP_THREAD_LIMIT=1``, so CPU s/page compares the cost per core.

Run from the repository root (takes ~2.5 s/page for Tesseract incl. crops, keep N small on
shared machines)::

    .venv/bin/python bench/engine_speed.py        # 10 pages of ../shared/data/funsd-train
    .venv/bin/python bench/engine_speed.py /path/to/funsd -n 30 --json bench-out.json

An engine that cannot be loaded (Tesseract not installed, model weights missing) is reported
as skipped; the other still runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ocr_tasks.evaluation.funsd import evaluate_funsd, summary_only  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "funsd-train"

ROWS: list[tuple[str, tuple[str, str]]] = [
    ("det precision", ("detection", "precision")),
    ("det recall", ("detection", "recall")),
    ("det H-mean", ("detection", "hmean")),
    ("AP@0.5", ("detection", "ap50")),
    ("crop CER", ("recognition", "cer")),
    ("end-to-end CER", ("end_to_end", "cer")),
    ("bag-of-words F1", ("bag_of_words", "f1")),
    ("CPU s/page", ("speed", "cpu_s_per_page")),
    ("wall s/page", ("speed", "wall_s_per_page")),
    ("crop CPU s/page", ("speed", "crop_cpu_s_per_page")),
]


def _engines(threads: int, backend: str | None) -> dict[str, Any]:
    """Engine name -> engine, or the reason it was skipped (a string)."""
    out: dict[str, Any] = {}
    try:
        from ocr_tasks.core.config import EngineSettings
        from ocr_tasks.engine.predictor import get_engine

        kwargs: dict[str, Any] = {"threads": threads}
        if backend:
            kwargs["backend"] = backend
        out["ppocr"] = get_engine(EngineSettings(**kwargs))
    except Exception as e:  # report and keep going: the other engine still runs
        out["ppocr"] = f"skipped: {type(e).__name__}: {e}"
    from ocr_tasks.evaluation.tesseract import TesseractEngine, tesseract_available

    out["tesseract"] = TesseractEngine() if tesseract_available() else "skipped: not installed"
    return out


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="FUNSD folder")
    ap.add_argument("-n", "--pages", type=int, default=10, help="pages per engine")
    ap.add_argument("--threads", type=int, default=1, help="threads for our engine")
    ap.add_argument("--backend", default=None, help="backend for our engine (default: its own)")
    ap.add_argument("--json", type=Path, help="write both summaries here")
    args = ap.parse_args(argv)

    results: dict[str, dict[str, Any] | str] = {}
    for name, engine in _engines(args.threads, args.backend).items():
        if isinstance(engine, str):
            results[name] = engine
            print(f"{name}: {engine}", file=sys.stderr)
            continue
        print(f"{name}: {args.pages} pages ...", file=sys.stderr)
        results[name] = summary_only(evaluate_funsd(args.data, engine, limit=args.pages))

    ran = {k: v for k, v in results.items() if isinstance(v, dict)}
    header = f"{'':18}" + "".join(f"{k:>14}" for k in ran)
    print(f"{args.pages} pages of {args.data}")
    print(header)
    print("-" * len(header))
    for label, (section, key) in ROWS:
        print(f"{label:18}" + "".join(f"{_fmt(r[section].get(key)):>14}" for r in ran.values()))
    for k, r in ran.items():
        print(f"{k}: {r['engine']['model_name']} {r['engine']['model_version']}, "
              f"{r['dataset']['words']} words")
    for k, v in results.items():
        if isinstance(v, str):
            print(f"{k}: {v}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
