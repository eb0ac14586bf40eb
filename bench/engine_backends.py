"""Seconds per page of the onnx and torch backends on real scans, per thread count.

    OMP_NUM_THREADS=1 .venv/bin/python bench/engine_backends.py \
        --data ../shared/data/funsd-train --limit 5 [--backends onnx torch] [--threads 1 2] \
        [--rec-batch 8 32]

Each configuration warms up on the first page, then OCRs the pages one call at a time (as a
worker does) and reports wall seconds per page with the stage split (preprocess, detect,
recognize). Texts of all configurations are compared with the first one's: backends must
agree. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocr_tasks.core.config import EngineSettings  # noqa: E402
from ocr_tasks.engine.predictor import OcrEngine  # noqa: E402
from ocr_tasks.page_image import PageImage  # noqa: E402


def load_pages(folder: Path, limit: int) -> list[PageImage]:
    paths = sorted((folder / "images").glob("*.png"))[:limit]
    return [PageImage(cv2.imread(str(p), cv2.IMREAD_COLOR), index=i) for i, p in enumerate(paths)]


def measure(settings: EngineSettings, pages: list[PageImage]) -> tuple[dict, list[str]]:
    engine = OcrEngine(settings)
    engine.recognize_pages(pages[:1])
    texts: list[str] = []
    stages = {"preprocess": 0.0, "detect": 0.0, "recognize": 0.0}
    start = time.perf_counter()
    for page in pages:
        (result,) = engine.recognize_pages([page])
        texts.append(result.text)
        for key in stages:
            stages[key] += result.timings[key]
    wall = time.perf_counter() - start
    n = len(pages)
    return {
        "backend": settings.backend,
        "threads": settings.threads,
        "rec_batch_size": settings.rec_batch_size,
        "s_per_page": round(wall / n, 3),
        **{f"{k}_s": round(v / n, 3) for k, v in stages.items()},
    }, texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FUNSD-format folder")
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["onnx", "torch"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--rec-batch", nargs="+", type=int, default=[32])
    args = parser.parse_args()

    pages = load_pages(args.data, args.limit)
    results, reference = [], None
    for backend in args.backends:
        for threads in args.threads:
            for batch in args.rec_batch:
                settings = EngineSettings(
                    backend=backend, device="cpu", threads=threads, rec_batch_size=batch
                )
                row, texts = measure(settings, pages)
                reference = reference or texts
                row["same_text_as_first"] = sum(
                    a == b for a, b in zip(texts, reference, strict=True)
                )
                results.append(row)
                print(json.dumps(row), file=sys.stderr)
    print(json.dumps({"pages": len(pages), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
