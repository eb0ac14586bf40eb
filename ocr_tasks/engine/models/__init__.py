"""PP-OCRv6 small networks as PyTorch modules, with the weights of the rapidocr ONNX files.

``load_detector``/``load_recognizer``/``load_direction_classifier`` return fresh modules in
eval mode with every parameter trainable; ``export_onnx`` turns them back into ONNX for the
onnxruntime and OpenVINO backends. Inputs are BGR images scaled as ``(x / 255 - 0.5) / 0.5``,
NCHW. The recognizer, its charset, its export and the model version take a charset
``variant`` ("latin" by default, or "full"; see ``catalog``).

Importing this package does not import torch: the model's identity comes from ``catalog``,
and the torch-backed names (``zoo``, ``export``) are imported on first use, so a CPU worker
that only runs cached ONNX exports never loads torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ocr_tasks.engine.models.catalog import (
    CHARSETS,
    DEFAULT_CHARSET,
    DEFAULT_REC_SIZE,
    MODEL_NAME,
    MODEL_VERSION,
    cached_onnx,
    charset,
    class_indices,
    model_version,
    onnx_model_path,
    pretrained_version,
)

if TYPE_CHECKING:
    from ocr_tasks.engine.models.export import export_onnx
    from ocr_tasks.engine.models.zoo import (
        load_detector,
        load_direction_classifier,
        load_recognizer,
        load_trained,
    )

# name -> the submodule (torch-backed) that defines it
_LAZY = {
    "export_onnx": "export",
    "load_detector": "zoo",
    "load_direction_classifier": "zoo",
    "load_recognizer": "zoo",
    "load_trained": "zoo",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHARSETS",
    "DEFAULT_CHARSET",
    "DEFAULT_REC_SIZE",
    "MODEL_NAME",
    "MODEL_VERSION",
    "cached_onnx",
    "charset",
    "class_indices",
    "export_onnx",
    "load_detector",
    "load_direction_classifier",
    "load_recognizer",
    "load_trained",
    "model_version",
    "onnx_model_path",
    "pretrained_version",
]
