"""Inference backends: the same three networks run by onnxruntime or by torch.

The engine only sees ``InferenceBackend``: float32 normalized batches in, probabilities out.
onnxruntime is the CPU default (it ran the same weights 2-2.5x faster than torch eager);
torch serves CUDA workers with half precision and large recognizer batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ocr_tasks.core.config import EngineSettings
from ocr_tasks.core.errors import ModelError

KINDS = ("det", "rec", "cls")


class InferenceBackend(ABC):
    """Runs the detector, recognizer and direction classifier on numpy batches."""

    name: str = ""
    rec_batch_size: int = 32

    @abstractmethod
    def _run(self, kind: str, batch: np.ndarray) -> np.ndarray:
        """Run network ``kind`` (one of KINDS) on a float32 NCHW batch."""

    def det(self, batch: np.ndarray) -> np.ndarray:
        """Bx3xHxW normalized BGR -> Bx1xHxW text probability."""
        return self._run("det", batch)

    def rec(self, batch: np.ndarray) -> np.ndarray:
        """Bx3x48xW -> BxTxC softmax over blank + charset + space (T = W / 8)."""
        return self._run("rec", batch)

    def cls(self, batch: np.ndarray) -> np.ndarray:
        """Bx3x48x192 -> Bx2 probabilities of (upright, upside down)."""
        return self._run("cls", batch)


class OnnxBackend(InferenceBackend):
    """onnxruntime on CPU, one session per network, ``threads`` intra-op threads each."""

    name = "onnx"

    def __init__(self, paths: dict[str, Path], threads: int = 1, rec_batch_size: int = 32,
                 memory_arena: bool = False):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # The arena keeps the largest activations ever seen (a 200-dpi A4 page) for the life of
        # the worker: off bounds a worker's RSS at some CPU cost (see bench/memory_300_pages.py).
        options.enable_cpu_mem_arena = memory_arena
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._sessions = {
                kind: ort.InferenceSession(
                    str(paths[kind]), options, providers=["CPUExecutionProvider"]
                )
                for kind in KINDS
            }
        except Exception as e:  # onnxruntime raises its own untyped errors on bad files
            raise ModelError(f"cannot load ONNX models {paths}: {e}") from e
        self._inputs = {k: s.get_inputs()[0].name for k, s in self._sessions.items()}
        self.rec_batch_size = rec_batch_size

    def _run(self, kind: str, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return self._sessions[kind].run(None, {self._inputs[kind]: x})[0]


class TorchBackend(InferenceBackend):
    """The torch ports of the networks: CPU, or CUDA with optional fp16; ``charset`` is the
    recognizer's charset variant (None = the models' default)."""

    name = "torch"

    def __init__(
        self,
        device: str = "cpu",
        *,
        half: bool = False,
        threads: int = 1,
        rec_batch_size: int = 32,
        charset: str | None = None,
    ):
        import torch

        from ocr_tasks.engine import models

        self._torch = torch
        self.device = torch.device(device)
        self.half = half and self.device.type == "cuda"
        if self.device.type == "cpu":
            torch.set_num_threads(threads)
        dtype = torch.float16 if self.half else torch.float32
        self._modules = {
            "det": models.load_detector(self.device),
            "rec": models.load_recognizer(self.device, charset or models.DEFAULT_CHARSET),
            "cls": models.load_direction_classifier(self.device),
        }
        for module in self._modules.values():
            module.to(device=self.device, dtype=dtype).eval()
        self._dtype = dtype
        self.rec_batch_size = rec_batch_size

    @classmethod
    def from_modules(
        cls, modules: dict[str, Any], device: str = "cpu", *, rec_batch_size: int = 32
    ) -> TorchBackend:
        """A backend over modules already in memory (``det``, ``rec``, ``cls``), e.g. ones
        being fine-tuned: they are used as they are (same objects, same dtype), in eval mode."""
        import torch

        backend = cls.__new__(cls)
        backend._torch = torch
        backend.device = torch.device(device)
        backend.half = False
        backend._modules = {kind: modules[kind].eval() for kind in KINDS}
        backend._dtype = torch.float32
        backend.rec_batch_size = rec_batch_size
        return backend

    def _run(self, kind: str, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            y = self._modules[kind](x.to(self.device, self._dtype))
            return y.float().cpu().numpy()


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def exported_onnx_paths(charset: str | None = None) -> dict[str, Path]:
    """Our torch modules exported to ONNX (cached per model version, which includes the
    recognizer's ``charset`` variant; None = the models' default): the onnx backend runs
    exactly the weights the torch backend runs."""
    from ocr_tasks.engine import models

    variant = charset or models.DEFAULT_CHARSET
    return {kind: models.export_onnx(kind, variant=variant) for kind in KINDS}


def resolve_device(settings: EngineSettings) -> str:
    """The device the engine runs on: 'auto' becomes 'cuda' when a GPU is present, and the
    onnx backend always runs on 'cpu'. Batch sizes follow this, never the raw setting."""
    cuda = settings.device.startswith("cuda") or (settings.device == "auto" and _cuda_available())
    if settings.backend == "onnx" or not cuda:
        return "cpu"
    return settings.device if settings.device != "auto" else "cuda"


def select_backend(settings: EngineSettings | None = None) -> InferenceBackend:
    """'auto': torch on CUDA (fp16, big recognizer batches) when a GPU is present, else
    onnxruntime on CPU; 'onnx' / 'torch' force one (torch honours ``settings.device``)."""
    settings = settings or EngineSettings()
    device = resolve_device(settings)
    choice = settings.backend
    if choice == "auto":
        choice = "torch" if device.startswith("cuda") else "onnx"
    if choice == "onnx":
        return OnnxBackend(
            exported_onnx_paths(settings.charset),
            threads=settings.threads,
            rec_batch_size=settings.rec_batch_size,
            memory_arena=settings.onnx_memory_arena,
        )
    if choice == "torch":
        on_gpu = device.startswith("cuda")
        return TorchBackend(
            device,
            half=settings.half_precision and on_gpu,
            threads=settings.threads,
            rec_batch_size=settings.rec_batch_size_gpu if on_gpu else settings.rec_batch_size,
            charset=settings.charset,
        )
    raise ValueError(f"unknown backend {settings.backend!r}: use 'auto', 'onnx' or 'torch'")
