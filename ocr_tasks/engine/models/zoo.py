"""The model zoo: where the weights come from, what version they are, how models are built.

The weights and the charset are read from the ONNX files inside the ``rapidocr`` wheel; nothing
is downloaded at run time. Parsed files are cached per process, but every ``load_*`` call
builds a fresh module, so fine-tuning one copy cannot corrupt another.

The recognizer comes in charset variants: "full" is the original 18710-class head (CJK
included); "latin" keeps the classes of European Latin-script documents, which makes the head,
evaluated at every time step, ~50x cheaper. The variant is part of the model version.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ocr_tasks.core.errors import ModelError
from ocr_tasks.engine.models.detector import TextDetector
from ocr_tasks.engine.models.direction import DirectionClassifier
from ocr_tasks.engine.models.onnx_weights import assign_weights, read_metadata, read_weights
from ocr_tasks.engine.models.recognizer import TextRecognizer

MODEL_NAME = "PP-OCRv6-small"
# Bump when a change to the modules can change their outputs (invalidates exported caches).
PORT_REVISION = "torch1"

ONNX_FILES: dict[str, str] = {
    "det": "PP-OCRv6_det_small.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
CTC_BLANK = "<blank>"
CHARSETS = ("full", "latin")
DEFAULT_CHARSET = "latin"
# Latin script: ASCII, Latin-1 Supplement, Latin Extended-A, and symbols of forms and invoices.
_LATIN_RANGES = ((0x20, 0x7E), (0xA0, 0xFF), (0x100, 0x17F))
_LATIN_SYMBOLS = frozenset("€£§°½–—‘’“”•…™‰†′″−☐☑☒✓✔✗■□▪●")


def onnx_model_path(kind: str) -> Path:
    """The original ONNX file of ``kind`` ("det", "rec" or "cls") inside the rapidocr package."""
    if kind not in ONNX_FILES:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(ONNX_FILES)}")
    try:
        path = Path(str(resources.files("rapidocr") / "models" / ONNX_FILES[kind]))
    except ModuleNotFoundError as e:
        raise ModelError("the rapidocr package (model weights) is not installed") from e
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; reinstall rapidocr==3.10.0")
    return path


def _weights_version() -> str:
    digest = hashlib.sha256()
    for kind in ONNX_FILES:
        digest.update(onnx_model_path(kind).read_bytes())
    return f"ppocrv6s-{PORT_REVISION}-{digest.hexdigest()[:8]}"


def _check_charset(variant: str) -> None:
    if variant not in CHARSETS:
        raise ValueError(f"unknown charset {variant!r}; expected one of {list(CHARSETS)}")


# Computed at import (hashing ~31 MB takes tens of milliseconds): a worker without the weight
# files fails on import with ModelError instead of on its first page.
_WEIGHTS_VERSION = _weights_version()


def model_version(variant: str = DEFAULT_CHARSET) -> str:
    """The version recorded with every result: weights, port and, unless "full", the charset."""
    _check_charset(variant)
    return _WEIGHTS_VERSION if variant == "full" else f"{_WEIGHTS_VERSION}-{variant}"


MODEL_VERSION = model_version()


@functools.cache
def _charset() -> tuple[str, ...]:
    metadata = read_metadata(onnx_model_path("rec"))
    if "character" not in metadata:
        raise ModelError("the recognizer ONNX file has no 'character' metadata")
    return (CTC_BLANK, *metadata["character"].splitlines(), " ")


def _is_latin(char: str) -> bool:
    code = ord(char)
    return char in _LATIN_SYMBOLS or any(lo <= code <= hi for lo, hi in _LATIN_RANGES)


@functools.cache
def class_indices(variant: str = DEFAULT_CHARSET) -> tuple[int, ...]:
    """Indices into the full charset of the classes ``variant`` keeps (blank and space too)."""
    _check_charset(variant)
    full = _charset()
    if variant == "full":
        return tuple(range(len(full)))
    inner = (i for i in range(1, len(full) - 1) if _is_latin(full[i]))
    return (0, *inner, len(full) - 1)


def charset(variant: str = DEFAULT_CHARSET) -> list[str]:
    """Recognizer classes: ``[0]`` is the CTC blank placeholder, the last is the space."""
    full = _charset()
    return [full[i] for i in class_indices(variant)]


_BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "det": TextDetector,
    "rec": lambda: TextRecognizer(num_classes=len(_charset())),
    "cls": DirectionClassifier,
}


def load_model(
    kind: str, device: str | torch.device = "cpu", *, variant: str = DEFAULT_CHARSET
) -> nn.Module:
    """A fresh ``kind`` network with the original weights, in eval mode, fully trainable.

    ``variant`` is the recognizer's charset; the other networks have a single form.
    """
    _check_charset(variant)
    path = onnx_model_path(kind)
    model = _BUILDERS[kind]()
    assign_weights(model, read_weights(path), source=path.name)
    if isinstance(model, TextRecognizer) and variant != "full":
        model.restrict_classes(class_indices(variant))
    model.eval()
    model.requires_grad_(True)
    return model.to(device)


def load_detector(device: str | torch.device = "cpu") -> nn.Module:
    """Text detector: Bx3xHxW (sides multiples of 32) -> Bx1xHxW probability map."""
    return load_model("det", device)


def load_recognizer(
    device: str | torch.device = "cpu", variant: str = DEFAULT_CHARSET
) -> nn.Module:
    """Line recognizer: Bx3x48xW -> Bx(W//8)xC softmax, C = len(charset(variant))."""
    return load_model("rec", device, variant=variant)


def load_direction_classifier(device: str | torch.device = "cpu") -> nn.Module:
    """Line direction classifier: Bx3x48x192 -> Bx2 softmax (index 1 = upside down)."""
    return load_model("cls", device)


def load_trained(
    kind: str,
    state: Mapping[str, torch.Tensor],
    *,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """A ``kind`` network ("det" or "rec") with fine-tuned weights ``state`` (a state dict).

    The recognizer's head has ``num_classes`` rows (its charset's length). A state dict that
    does not fit the module exactly is refused: a half-loaded network reads plausible garbage.
    """
    if kind == "rec":
        if not num_classes:
            raise ValueError("a recognizer needs num_classes (the length of its charset)")
        model: nn.Module = TextRecognizer(num_classes=num_classes)
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
