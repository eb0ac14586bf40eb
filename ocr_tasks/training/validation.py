"""Validation between stages: the real engine, run on the modules being trained.

The engine (``OcrEngine``: detection, orientation, line crops, recognition, word boxes) runs
on a ``TorchBackend`` over the in-memory modules (CUDA), or on onnxruntime over their export
(CPU, as production runs them), with the extended charset, and is scored by
``evaluation.funsd.evaluate_samples``: the figures are the ones ``ocr-pipeline evaluate``
reports, on the validation split only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ocr_tasks.core.config import EngineSettings
from ocr_tasks.engine.backends import (
    InferenceBackend,
    TorchBackend,
    backend_choice,
    onnx_file_backend,
)
from ocr_tasks.engine.models import export_onnx
from ocr_tasks.engine.models.export import export_module
from ocr_tasks.engine.predictor import OcrEngine
from ocr_tasks.evaluation.funsd import evaluate_samples
from ocr_tasks.training.data import TrainPage

# Metric name -> where evaluate_samples reports it; all but hmean/ap50 are lower-is-better.
METRICS = {
    "crop_cer": ("recognition", "cer"),
    "e2e_cer": ("end_to_end", "cer"),
    "hmean": ("detection", "hmean"),
    "ap50": ("detection", "ap50"),
    "bow_f1": ("bag_of_words", "f1"),
}


def engine_for(modules: dict[str, nn.Module], charset: Sequence[str], version: str,
               device: str = "cpu", threads: int = 1, *, onnx_dir: Path | None = None,
               runtime: str = "onnx") -> OcrEngine:
    """The production engine (default settings) over these modules and this charset: torch
    on the modules themselves, or, with ``onnx_dir``, their export there run by ``runtime``:
    onnxruntime (the stage figures: it runs the weights 2-2.5x faster than torch eager and
    as they are, f32) or "openvino" (what a CPU worker runs by default where bf16 is
    native)."""
    settings = EngineSettings(backend="onnx" if onnx_dir else "torch", device=device,
                              threads=threads)
    backend: InferenceBackend
    if onnx_dir is not None:
        paths = {kind: export_module(modules[kind].cpu(), kind, onnx_dir / f"{kind}.onnx")
                 for kind in ("det", "rec")}
        paths["cls"] = export_onnx("cls")
        backend = onnx_file_backend("openvino" if runtime == "openvino" else "onnx", paths,
                                    settings)
    else:
        backend = TorchBackend(device, threads=threads, modules=modules, rec_batch_size=(
            settings.rec_batch_size_gpu if device.startswith("cuda")
            else settings.rec_batch_size))
    engine = OcrEngine(settings, backend)
    engine.charset = list(charset)
    engine.model_version = version
    return engine


def validate(modules: dict[str, nn.Module], charset: Sequence[str], pages: Sequence[TrainPage],
             *, version: str, device: str = "cpu", threads: int = 1,
             onnx_dir: Path | None = None, runtime: str = "onnx") -> dict[str, Any]:
    """Validation figures (``METRICS``) of the modules on ``pages``, plus page/word counts."""
    engine = engine_for(modules, charset, version, device, threads, onnx_dir=onnx_dir,
                        runtime=runtime)
    result = evaluate_samples(pages, engine, dataset={"split": "val"})
    figures: dict[str, Any] = {name: result[block][key] for name, (block, key) in METRICS.items()}
    figures.update(pages=result["dataset"]["pages"], words=result["dataset"]["words"],
                   backend=engine.backend.name)
    return figures


def worse(metrics: dict[str, Any], start: dict[str, Any]) -> list[str]:
    """The CER figures in which ``metrics`` is worse than the pretrained ``start``."""
    return [name for name in ("crop_cer", "e2e_cer")
            if metrics[name] is not None and start[name] is not None
            and metrics[name] > start[name]]


# How far a smaller model may fall behind the bundled one and still be used in its place.
HOLD_TOLERANCE = 0.005


def falls_behind(metrics: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """The page-level figures (end-to-end CER, H-mean) in which ``metrics`` is more than
    ``HOLD_TOLERANCE`` worse than the bundled model's ``reference``; empty: it holds."""
    lost = []
    if metrics["e2e_cer"] is not None and reference["e2e_cer"] is not None and (
            metrics["e2e_cer"] > reference["e2e_cer"] + HOLD_TOLERANCE):
        lost.append("e2e_cer")
    if metrics["hmean"] is not None and reference["hmean"] is not None and (
            metrics["hmean"] < reference["hmean"] - HOLD_TOLERANCE):
        lost.append("hmean")
    return lost


def production_runtime(device: str) -> str:
    """The runtime a worker of this host runs a model version on: "openvino" where the
    default backend picks it, else "onnx" (CUDA: "torch")."""
    return backend_choice(EngineSettings(device=device))

