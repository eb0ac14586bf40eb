"""Same text from every backend: a stored model version run by torch, onnxruntime and OpenVINO
on the validation pages of a labelled set, page text compared with torch's.

    .venv/bin/python bench/model_parity.py --lake LAKE --model NAME[/VERSION] \
        --data ../shared/data/funsd-train --format funsd --fractions 0.8,0.2,0 \
        [--backends torch onnx openvino] [--pages N]

The registry already checks each exported network against torch on random inputs when it
publishes a version; this checks what a user reads: the engine's page text (detection, line
order, word cuts), page by page. Prints, per backend, the pages whose text equals torch's,
the characters that differ (edit distance to torch's text) and CPU s/page.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocr_tasks.core.config import EngineSettings  # noqa: E402
from ocr_tasks.engine import registry  # noqa: E402
from ocr_tasks.engine.predictor import OcrEngine  # noqa: E402
from ocr_tasks.evaluation.metrics import cer_counts  # noqa: E402
from ocr_tasks.training.data import load_page  # noqa: E402
from ocr_tasks.training.sources import load_dataset, parse_fractions  # noqa: E402


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", required=True, help="lake holding the model registry")
    ap.add_argument("--model", required=True, help="NAME (its promoted version) or NAME/VERSION")
    ap.add_argument("--data", type=Path, required=True, help="labelled data folder")
    ap.add_argument("--format", default="funsd", choices=("funsd", "dataset"))
    ap.add_argument("--fractions", help="train,val,test shares (as given to train)")
    ap.add_argument("--backends", nargs="+", default=["torch", "onnx", "openvino"])
    ap.add_argument("--pages", type=int, default=None, help="first N validation pages")
    args = ap.parse_args(argv)

    location = registry.resolve(args.model, args.lake)
    dataset = load_dataset(data=args.data, fmt=args.format,
                           fractions=parse_fractions(args.fractions) if args.fractions else None)
    val = [p for p in dataset.pages if p.split == "val"][: args.pages]
    images = [load_page(p).page for p in val]
    texts: dict[str, list[str]] = {}
    for backend in ["torch", *(b for b in args.backends if b != "torch")]:
        engine = OcrEngine(EngineSettings(model=location, backend=backend, device="cpu"))
        c0, w0 = _cpu(), time.perf_counter()
        texts[backend] = [engine.recognize_pages([image])[0].text for image in images]
        cpu = (_cpu() - c0) / max(1, len(images))
        print(f"{backend:9} {engine.model_version}: {len(images)} pages, {cpu:.2f} CPU s/page, "
              f"{time.perf_counter() - w0:.0f} s", file=sys.stderr, flush=True)
    reference = texts["torch"]
    print(f"model {location}; {len(val)} validation pages; reference: torch")
    print(f"{'backend':9} {'same text':>10} {'chars differing':>16} {'of chars':>9}")
    for backend, got in texts.items():
        same = sum(a == b for a, b in zip(got, reference, strict=True))
        counts = [cer_counts(b, a) for a, b in zip(got, reference, strict=True)]
        edits, chars = sum(e for e, _ in counts), sum(n for _, n in counts)
        print(f"{backend:9} {same:>5}/{len(got):<4} {edits:>16} {chars:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
