"""The model zoo: our torch modules built with the bundled weights (``catalog`` says which).

Parsed files are cached per process, but every ``load_*`` call builds a fresh module, so
fine-tuning one copy cannot corrupt another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from ocr_tasks.core.errors import ModelError
from ocr_tasks.engine.models.catalog import (
    DEFAULT_CHARSET,
    DEFAULT_REC_SIZE,
    check_charset,
    class_indices,
    full_charset,
    onnx_model_path,
    recognizer_path,
)
from ocr_tasks.engine.models.detector import TextDetector
from ocr_tasks.engine.models.direction import DirectionClassifier
from ocr_tasks.engine.models.onnx_weights import assign_weights, read_weights
from ocr_tasks.engine.models.recognizer import TextRecognizer

_BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "det": TextDetector,
    "cls": DirectionClassifier,
}


def load_model(
    kind: str,
    device: str | torch.device = "cpu",
    *,
    variant: str = DEFAULT_CHARSET,
    size: str = DEFAULT_REC_SIZE,
) -> nn.Module:
    """A fresh ``kind`` network with the original weights, in eval mode, fully trainable.

    ``variant`` (charset) and ``size`` ("small" or "tiny") choose the recognizer; the other
    networks have a single form.
    """
    check_charset(variant)
    if kind == "rec":
        path = recognizer_path(size)
        model: nn.Module = TextRecognizer(len(full_charset(size)), size)
    else:
        path = onnx_model_path(kind)
        model = _BUILDERS[kind]()
    assign_weights(model, read_weights(path), source=path.name)
    if isinstance(model, TextRecognizer) and variant != "full":
        model.restrict_classes(class_indices(variant, size))
    model.eval()
    model.requires_grad_(True)
    return model.to(device)


def load_detector(device: str | torch.device = "cpu") -> nn.Module:
    """Text detector: Bx3xHxW (sides multiples of 32) -> Bx1xHxW probability map."""
    return load_model("det", device)


def load_recognizer(
    device: str | torch.device = "cpu",
    variant: str = DEFAULT_CHARSET,
    size: str = DEFAULT_REC_SIZE,
) -> nn.Module:
    """Line recognizer: Bx3x48xW -> Bx(W//8)xC softmax, C = len(charset(variant, size))."""
    return load_model("rec", device, variant=variant, size=size)


def load_direction_classifier(device: str | torch.device = "cpu") -> nn.Module:
    """Line direction classifier: Bx3x48x192 -> Bx2 softmax (index 1 = upside down)."""
    return load_model("cls", device)


def load_trained(
    kind: str,
    state: Mapping[str, torch.Tensor],
    *,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    size: str = DEFAULT_REC_SIZE,
) -> nn.Module:
    """A ``kind`` network ("det" or "rec") with fine-tuned weights ``state`` (a state dict).

    The recognizer of ``size`` has ``num_classes`` head rows (its charset's length). A state
    dict that does not fit the module exactly is refused: a half-loaded network reads
    plausible garbage.
    """
    if kind == "rec":
        if not num_classes:
            raise ValueError("a recognizer needs num_classes (the length of its charset)")
        model: nn.Module = TextRecognizer(num_classes, size)
    elif kind == "det":
        model = TextDetector()
    else:
        raise ValueError(f"only 'det' and 'rec' are fine-tuned, not {kind!r}")
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ModelError(f"the {kind} weights do not fit the {kind} network: {first}") from e
    model.eval()
    return model.to(device)
