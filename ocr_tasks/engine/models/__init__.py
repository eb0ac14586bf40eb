"""PP-OCRv6 small networks as PyTorch modules, with the weights of the rapidocr ONNX files.

``load_detector``/``load_recognizer``/``load_direction_classifier`` return fresh modules in
eval mode with every parameter trainable; ``export_onnx`` turns them back into ONNX for the
onnxruntime backend. Inputs are BGR images scaled as ``(x / 255 - 0.5) / 0.5``, NCHW.
The recognizer, its charset, its export and the model version take a charset ``variant``
("latin" by default, or "full"; see ``zoo``).
"""

from ocr_tasks.engine.models.export import export_onnx
from ocr_tasks.engine.models.zoo import (
    CHARSETS,
    DEFAULT_CHARSET,
    MODEL_NAME,
    MODEL_VERSION,
    charset,
    class_indices,
    load_detector,
    load_direction_classifier,
    load_recognizer,
    load_trained,
    model_version,
    onnx_model_path,
)

__all__ = [
    "CHARSETS",
    "DEFAULT_CHARSET",
    "MODEL_NAME",
    "MODEL_VERSION",
    "charset",
    "class_indices",
    "export_onnx",
    "load_detector",
    "load_direction_classifier",
    "load_recognizer",
    "load_trained",
    "model_version",
    "onnx_model_path",
]
