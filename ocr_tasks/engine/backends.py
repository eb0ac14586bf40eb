"""Inference backends: the same three networks run by OpenVINO, onnxruntime or torch.

The engine only sees ``InferenceBackend``: float32 normalized batches in, probabilities out.
On CPU, OpenVINO runs the exported ONNX files (bf16 where the CPU has AVX512-BF16 or AMX,
f32 otherwise) and is the default when installed; onnxruntime is the fallback (it ran the
same weights 2-2.5x faster than torch eager). torch serves CUDA workers with half precision
and large recognizer batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ocr_tasks.core.config import EngineSettings
from ocr_tasks.core.errors import ModelError
from ocr_tasks.engine.models.catalog import KINDS
from ocr_tasks.engine.static_shapes import StaticShapes

if TYPE_CHECKING:
    from ocr_tasks.engine.registry import ModelVersion


class InferenceBackend(ABC):
    """Runs the detector, recognizer and direction classifier on numpy batches."""

    name: str = ""
    rec_batch_size: int = 32
    # compiles kernels for each input shape: recognizer widths come from a fixed ladder
    # (``postprocess.rec_padded_width``) so the compiled shapes are reused
    rec_width_ladder: bool = False

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


# CPU flags under which OpenVINO runs bf16 natively (AVX512-BF16, AMX); elsewhere it emulates.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# Kernels OpenVINO keeps per input shape and network (default 5000). Recognizer widths come
# from a ladder of ~45 (``postprocess.REC_WIDTH_LADDER``) in batches of 1-4 crops, so 256
# holds every recognizer shape a worker meets, which a cache of 50 did not: on an AMX Xeon a
# shape compiled again cost ~37 ms per call. Without the ladder, hundreds of widths grew the
# cache over a worker's life (measured on six 200-dpi A4 pages: 5000 entries +108 MB).
OPENVINO_SHAPE_CACHE = 256


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def openvino_precision(setting: str, flags: frozenset[str] | None = None) -> str:
    """'bf16' or 'f32': ``setting`` 'auto' picks bf16 only where the CPU computes it natively
    (elsewhere OpenVINO would emulate it)."""
    if setting != "auto":
        return setting
    return "bf16" if BF16_FLAGS & (cpu_flags() if flags is None else flags) else "f32"


def openvino_available() -> bool:
    """True when the ``openvino`` package can be imported (an optional fast CPU runtime)."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_preferred(settings: EngineSettings, flags: frozenset[str] | None = None) -> bool:
    """Whether 'auto' runs OpenVINO on CPU: installed and running bf16. Measured on 12 FUNSD
    pages in one run: OpenVINO bf16 0.60x onnxruntime's CPU time per page at the same
    accuracy, but OpenVINO f32 1.05x (slower), so without native bf16 onnxruntime stays."""
    precision = openvino_precision(settings.openvino_precision, flags)
    return precision == "bf16" and openvino_available()


class OpenVinoBackend(InferenceBackend):
    """OpenVINO on CPU running the same exported ONNX files as :class:`OnnxBackend`: one
    compiled model and one infer request per network, ``threads`` threads, one stream; up to
    ``static_shapes`` detector shapes compiled for their own size (the setting
    ``EngineSettings.openvino_static_shapes`` owns the default)."""

    name = "openvino"
    rec_width_ladder = True

    def __init__(self, paths: dict[str, Path], threads: int = 1, rec_batch_size: int = 32,
                 precision: str = "auto", *, static_shapes: int):
        import openvino as ov

        self.precision = openvino_precision(precision)
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            # several workers share a host: pinning threads to cores would make them collide
            "ENABLE_CPU_PINNING": False,
            "CPU_RUNTIME_CACHE_CAPACITY": OPENVINO_SHAPE_CACHE,
        }
        core = ov.Core()
        try:
            models = {kind: core.read_model(str(paths[kind])) for kind in KINDS}
            self._requests = {
                kind: core.compile_model(model, "CPU", config).create_infer_request()
                for kind, model in models.items()
            }
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise ModelError(f"cannot load ONNX models {paths} into OpenVINO: {e}") from e
        self.rec_batch_size = rec_batch_size

        det_model = models.pop("det")  # kept for compiling its fixed shapes; the rest go

        def compile_det(shape: tuple[int, ...]) -> Any:
            model = det_model.clone()
            model.reshape({model.inputs[0].any_name: ov.PartialShape(list(shape))})
            return core.compile_model(model, "CPU", config).create_infer_request()

        # the detector only: recognizer and classifier batches ran as fast on the any-size
        # models (4x3x48x320: 0.0084 against 0.0086 s), and they come in hundreds of widths
        self.det_shapes = StaticShapes(compile_det, static_shapes)

    def _run(self, kind: str, batch: np.ndarray) -> np.ndarray:
        static = self.det_shapes.get(batch.shape) if kind == "det" else None
        request = self._requests[kind] if static is None else static
        request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        # the output tensor is the request's own buffer, overwritten by the next call
        return np.array(request.get_output_tensor(0).data, copy=True)


class TorchBackend(InferenceBackend):
    """The torch ports of the networks: CPU, or CUDA with optional fp16; ``charset`` is the
    recognizer's charset variant (None = the models' default); ``modules`` replaces the
    pretrained networks (a stored model version's, or ones being fine-tuned)."""

    name = "torch"

    def __init__(
        self,
        device: str = "cpu",
        *,
        half: bool = False,
        threads: int = 1,
        rec_batch_size: int = 32,
        charset: str | None = None,
        modules: Mapping[str, Any] | None = None,
    ):
        import torch

        from ocr_tasks.engine import models

        self._torch = torch
        self.device = torch.device(device)
        self.half = half and self.device.type == "cuda"
        if self.device.type == "cpu":
            torch.set_num_threads(threads)
        dtype = torch.float16 if self.half else torch.float32
        self._modules = dict(modules) if modules is not None else {
            "det": models.load_detector(self.device),
            "rec": models.load_recognizer(self.device, charset or models.DEFAULT_CHARSET),
            "cls": models.load_direction_classifier(self.device),
        }
        for module in self._modules.values():
            module.to(device=self.device, dtype=dtype).eval()
        self._dtype = dtype
        self.rec_batch_size = rec_batch_size

    def _run(self, kind: str, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            y = self._modules[kind](x.to(self.device, self._dtype))
            return y.float().cpu().numpy()


NVIDIA_DRIVER = Path("/proc/driver/nvidia/gpus")


def _cuda_available() -> bool:
    """A GPU torch can use. Without an NVIDIA driver torch is not even imported: CPU workers
    and the orchestrator ask this too, and importing torch costs ~1.3 s CPU and ~180 MB."""
    if not NVIDIA_DRIVER.is_dir():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def cuda_device_count() -> int:
    """GPUs torch can use here (0 without an NVIDIA driver, torch or CUDA): a local cluster
    runs one worker per GPU."""
    if not _cuda_available():
        return 0
    import torch

    return int(torch.cuda.device_count())


def exported_onnx_paths(charset: str | None = None) -> dict[str, Path]:
    """Our torch modules exported to ONNX (cached per model version, which includes the
    recognizer's ``charset`` variant; None = the models' default): the onnx backend runs
    exactly the weights the torch backend runs."""
    from ocr_tasks.engine import models

    variant = charset or models.DEFAULT_CHARSET
    paths = {kind: models.cached_onnx(kind, variant) for kind in KINDS}
    if all(path.is_file() for path in paths.values()):
        return paths  # the common case: no torch needed to run them
    return {kind: models.export_onnx(kind, variant=variant) for kind in KINDS}


def resolve_device(settings: EngineSettings) -> str:
    """The device the engine runs on: 'auto' becomes 'cuda' when a GPU is present, and the
    onnx and openvino backends always run on 'cpu'. Batch sizes follow this, never the raw
    setting."""
    cuda = settings.device.startswith("cuda") or (settings.device == "auto" and _cuda_available())
    if settings.backend in ("onnx", "openvino") or not cuda:
        return "cpu"
    return settings.device if settings.device != "auto" else "cuda"


def backend_choice(settings: EngineSettings) -> str:
    """The backend ``settings`` run on: "auto" becomes torch on CUDA, else OpenVINO where
    it runs bf16 (:func:`openvino_preferred`), else onnxruntime; others stay as set."""
    if settings.backend != "auto":
        return settings.backend
    if resolve_device(settings).startswith("cuda"):
        return "torch"
    return "openvino" if openvino_preferred(settings) else "onnx"


def onnx_file_backend(choice: str, paths: dict[str, Path], settings: EngineSettings
                      ) -> InferenceBackend:
    """OpenVINO or onnxruntime (``choice``) on these ONNX files, configured by ``settings``."""
    if choice == "openvino":
        return OpenVinoBackend(paths, threads=settings.threads,
                               rec_batch_size=settings.rec_batch_size,
                               precision=settings.openvino_precision,
                               static_shapes=settings.openvino_static_shapes)
    return OnnxBackend(paths, threads=settings.threads, rec_batch_size=settings.rec_batch_size,
                       memory_arena=settings.onnx_memory_arena)


def select_backend(
    settings: EngineSettings | None = None, version: ModelVersion | None = None
) -> InferenceBackend:
    """'auto': torch on CUDA (fp16, big recognizer batches) when a GPU is present, else
    OpenVINO where it runs bf16 (:func:`openvino_preferred`), else onnxruntime; 'openvino' /
    'onnx' / 'torch' force one (torch honours ``settings.device``). ``version`` is a stored
    model version to run instead of the bundled networks."""
    settings = settings or EngineSettings()
    device = resolve_device(settings)
    choice = backend_choice(settings)
    if choice in ("openvino", "onnx"):
        return onnx_file_backend(
            choice, version.onnx_paths if version else exported_onnx_paths(settings.charset),
            settings)
    if choice == "torch":
        on_gpu = device.startswith("cuda")
        return TorchBackend(
            device,
            half=settings.half_precision and on_gpu,
            threads=settings.threads,
            rec_batch_size=settings.rec_batch_size_gpu if on_gpu else settings.rec_batch_size,
            charset=settings.charset,
            modules={k: version.module(k, device) for k in KINDS} if version else None,
        )
    raise ValueError(
        f"unknown backend {settings.backend!r}: use 'auto', 'openvino', 'onnx' or 'torch'"
    )
