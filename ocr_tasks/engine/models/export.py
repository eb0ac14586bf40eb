"""ONNX export of our modules, for the onnxruntime backend.

Exports go to a per-user cache keyed by the model version (charset variant included), so a new
model, a changed port or another charset never reuses a stale file. Several worker processes
may export at once: each writes a private temporary file and renames it into place, so readers
only ever see complete files.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch

from ocr_tasks.core.errors import ModelError
from ocr_tasks.engine.models.catalog import DEFAULT_CHARSET, cached_onnx
from ocr_tasks.engine.models.direction import INPUT_SIZE as CLS_INPUT_SIZE
from ocr_tasks.engine.models.recognizer import INPUT_HEIGHT as REC_INPUT_HEIGHT
from ocr_tasks.engine.models.zoo import load_model

OPSET = 17
INPUT_NAME = "x"
OUTPUT_NAME = "probabilities"

# Tracing sample per kind and its dynamic axes (the recognizer's height is fixed at 48).
_SAMPLE_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "det": (1, 3, 64, 96),
    "rec": (1, 3, REC_INPUT_HEIGHT, 160),
    "cls": (1, 3, *CLS_INPUT_SIZE),
}
_DYNAMIC_AXES: dict[str, tuple[dict[int, str], dict[int, str]]] = {
    "det": ({0: "batch", 2: "height", 3: "width"}, {0: "batch", 2: "height", 3: "width"}),
    "rec": ({0: "batch", 3: "width"}, {0: "batch", 1: "steps"}),
    "cls": ({0: "batch", 2: "height", 3: "width"}, {0: "batch"}),
}


def export_onnx(
    kind: str, out_path: Path | None = None, *, variant: str = DEFAULT_CHARSET
) -> Path:
    """Export our ``kind`` module ("det", "rec", "cls") to ONNX and return the file.

    Without ``out_path`` the file goes to ``catalog.cached_onnx`` and an existing one is reused
    (its folder is keyed by the model version of ``variant``, the recognizer's charset). An
    explicit ``out_path`` is always rewritten. The graph has input ``x`` and output
    ``probabilities`` with dynamic batch and spatial axes.
    """
    if kind not in _SAMPLE_SHAPES:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(_SAMPLE_SHAPES)}")
    target = Path(out_path) if out_path is not None else cached_onnx(kind, variant)
    if out_path is None and target.is_file():
        return target
    return export_module(load_model(kind, "cpu", variant=variant), kind, target)


def export_module(model: torch.nn.Module, kind: str, target: Path) -> Path:
    """Export one of our ``kind`` modules (pretrained or fine-tuned) to ``target``: written
    aside and renamed into place, so a reader never sees half a file."""
    if kind not in _SAMPLE_SHAPES:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(_SAMPLE_SHAPES)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").float().eval()
    sample = torch.zeros(_SAMPLE_SHAPES[kind])
    input_axes, output_axes = _DYNAMIC_AXES[kind]
    fd, tmp_name = tempfile.mkstemp(prefix=f".{kind}-", suffix=".onnx.tmp", dir=target.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The torch.export-based exporter needs onnxscript, which is not a dependency;
            # the TorchScript one is deprecated but exact for these static-graph networks.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            # Slices with a step (the detector's and recognizer's strided crops) are left to
            # onnxruntime instead of being folded; the result is exact, the warning noise.
            warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
            torch.onnx.export(
                model,
                (sample,),
                tmp_name,
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: input_axes, OUTPUT_NAME: output_axes},
            )
        os.chmod(tmp_name, 0o644)  # mkstemp's 0600 would hide a shared cache from others
        os.replace(tmp_name, target)
    except Exception as e:
        raise ModelError(f"cannot export the {kind} model to {target}: {e}") from e
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
