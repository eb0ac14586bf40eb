"""Bake the OCR models into an image: export the ONNX files once, at build time.

The weights come from the ``rapidocr==3.10.0`` wheel installed with the package (nothing is
downloaded); the onnx backend runs ONNX files exported from our PyTorch modules, cached under
``$OCR_MODEL_CACHE/<model version>/``. Exporting them here means a worker starts with neither a
download nor an export. ``--verify`` only checks that every file is there and loads (run it as
a container start-up check, or after changing OCR_MODEL_CACHE).

    OCR_MODEL_CACHE=/opt/ocr-models python infra/docker/bake_models.py --charset latin \
        --charset full
    OCR_MODEL_CACHE=/opt/ocr-models python infra/docker/bake_models.py --verify
"""

from __future__ import annotations

import argparse
import sys
import time


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charset", action="append", choices=("latin", "full"),
                        help="recognizer charset variants to bake (default: latin)")
    parser.add_argument("--verify", action="store_true",
                        help="export nothing: fail unless every file is baked and loads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    charsets = args.charset or ["latin"]

    import numpy as np
    import onnxruntime as ort

    from ocr_tasks.engine.backends import exported_onnx_paths
    from ocr_tasks.engine.models.catalog import KINDS, cached_onnx, model_version

    missing = [str(cached_onnx(k, c)) for c in charsets for k in KINDS
               if not cached_onnx(k, c).is_file()]
    if args.verify and missing:
        print("not baked: " + ", ".join(missing), file=sys.stderr)
        return 1
    for charset in charsets:
        started = time.monotonic()
        paths = exported_onnx_paths(charset)  # exports what is missing, reuses the rest
        for kind, path in paths.items():
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            shape = {"det": (1, 3, 64, 64), "rec": (1, 3, 48, 64), "cls": (1, 3, 48, 192)}[kind]
            (out,) = session.run(None, {session.get_inputs()[0].name: np.zeros(shape, "float32")})
            if not np.isfinite(out).all():
                print(f"{path}: non-finite output", file=sys.stderr)
                return 1
        print(f"{model_version(charset)}: {', '.join(str(p) for p in paths.values())} "
              f"({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
