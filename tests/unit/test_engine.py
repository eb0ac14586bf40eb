"""The engine end to end on pages rendered with known text and known word boxes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from ocr_tasks import cli
from ocr_tasks.core.config import EngineSettings
from ocr_tasks.engine import postprocess as post
from ocr_tasks.engine.predictor import OcrEngine, get_engine
from ocr_tasks.page_image import PageImage

LINES = [
    "Invoice number 4711 dated 12 March",
    "Total amount due 1250.00 EUR",
    "Please pay within thirty days",
    "Thank you for your business",
]
Box = tuple[float, float, float, float]


def render(
    lines: list[str] = LINES, size: tuple[int, int] = (820, 330)
) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """BGR page with the lines in DejaVu Sans 28 px, and each word's true box (PIL's)."""
    font = ImageFont.truetype(
        str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), 28
    )
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    words: list[tuple[str, Box]] = []
    for row, line in enumerate(lines):
        x, y = 40.0, 40.0 + 70 * row
        for word in line.split():
            draw.text((x, y), word, font=font, fill=0)
            words.append((word, tuple(float(v) for v in draw.textbbox((x, y), word, font=font))))
            x += draw.textlength(word + " ", font=font)
    return cv2.cvtColor(np.asarray(page), cv2.COLOR_GRAY2BGR), words


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def map_box(box: Box, matrix: np.ndarray) -> Box:
    """Axis-aligned box of a box's corners under a 2x3 affine map."""
    x0, y0, x1, y1 = box
    pts = post.map_points(matrix, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32))
    return (
        float(pts[:, 0].min()),
        float(pts[:, 1].min()),
        float(pts[:, 0].max()),
        float(pts[:, 1].max()),
    )


def assert_reads(page, truth: list[tuple[str, Box]], min_iou: float = 0.5) -> None:
    """Text close to the truth and every true word found with a well-overlapping box."""
    text = " ".join(w.text for w in page.words)
    expected = " ".join(t for t, _ in truth)
    assert Levenshtein.normalized_distance(text, expected) < 0.03, text
    for word, box in truth:
        best = max(page.words, key=lambda w: iou(w.box, box))
        assert iou(best.box, box) >= min_iou, (word, best.text, best.box, box)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return get_engine(EngineSettings(backend="onnx", threads=1))


@pytest.fixture(scope="module")
def rendered() -> tuple[np.ndarray, list[tuple[str, Box]]]:
    return render()


def test_reads_text_words_and_boxes(engine: OcrEngine, rendered) -> None:
    image, truth = rendered
    (page,) = engine.recognize_pages([PageImage(image, index=3, dpi=200)])
    assert_reads(page, truth)
    assert [line.text for line in page.lines] == LINES
    assert (page.index, page.width, page.height, page.dpi) == (3, 820, 330, 200)
    assert page.rotation == 0 and abs(page.skew_angle) < 0.5
    stages = {"preprocess", "detect", "classify", "recognize"}
    assert set(page.timings) == stages | {f"{s}_cpu" for s in stages}
    assert all(page.timings[f"{s}_cpu"] >= 0 for s in stages)
    assert page.model_name and page.model_version
    assert all(0.5 < w.confidence <= 1.0 for w in page.words)


@pytest.mark.parametrize(("turn", "expected_rotation"), [
    (cv2.ROTATE_90_CLOCKWISE, 270), (cv2.ROTATE_180, 180), (cv2.ROTATE_90_COUNTERCLOCKWISE, 90),
])
def test_rotated_page_is_corrected_and_boxes_stay_in_input_frame(
    engine: OcrEngine, rendered, turn: int, expected_rotation: int
) -> None:
    image, truth = rendered
    h, w = image.shape[:2]
    turned = cv2.rotate(image, turn)
    to_turned = {
        cv2.ROTATE_90_CLOCKWISE: np.array([[0, -1, h], [1, 0, 0]], np.float64),
        cv2.ROTATE_180: np.array([[-1, 0, w], [0, -1, h]], np.float64),
        cv2.ROTATE_90_COUNTERCLOCKWISE: np.array([[0, 1, 0], [-1, 0, w]], np.float64),
    }[turn]
    (page,) = engine.recognize_pages([PageImage(turned, dpi=200)])
    assert page.rotation == expected_rotation
    assert (page.width, page.height) == (turned.shape[1], turned.shape[0])
    assert_reads(page, [(t, map_box(b, to_turned)) for t, b in truth])


def test_skewed_page_is_deskewed(engine: OcrEngine, rendered) -> None:
    image, truth = rendered
    h, w = image.shape[:2]
    tilt = cv2.getRotationMatrix2D((w / 2, h / 2), 2.0, 1.0)  # 2 degrees counter-clockwise
    skewed = cv2.warpAffine(image, tilt, (w, h), borderValue=(255, 255, 255))
    (page,) = engine.recognize_pages([PageImage(skewed, dpi=200)])
    assert page.skew_angle == pytest.approx(-2.0, abs=0.5)
    assert [line.text for line in page.lines] == LINES
    assert_reads(page, [(t, map_box(b, tilt)) for t, b in truth], min_iou=0.4)


def test_pages_are_recognized_together(engine: OcrEngine, rendered) -> None:
    image, _ = rendered
    small = render(["Second page text"], (500, 120))[0]
    pages = engine.recognize_pages([PageImage(image, 0, 200), PageImage(small, 1, 200)])
    assert [p.index for p in pages] == [0, 1]
    assert pages[1].text == "Second page text"
    assert engine.recognize_pages([]) == []


def test_blank_page_has_no_lines(engine: OcrEngine) -> None:
    (page,) = engine.recognize_pages([PageImage(np.full((200, 300), 255, np.uint8), dpi=200)])
    assert page.lines == () and page.confidence == 1.0


def test_recognize_crops(engine: OcrEngine, rendered) -> None:
    image, truth = rendered
    crops = [image[int(b[1]) : int(b[3]) + 1, int(b[0]) : int(b[2]) + 1] for _, b in truth[:6]]
    results = engine.recognize_crops(crops)
    assert [t for t, _ in results] == [t for t, _ in truth[:6]]
    assert all(0.5 < c <= 1.0 for _, c in results)


def test_engine_is_cached_per_settings(engine: OcrEngine) -> None:
    assert get_engine(EngineSettings(backend="onnx", threads=1)) is engine


def test_torch_and_onnx_backends_read_the_same(engine: OcrEngine) -> None:
    image, _ = render(LINES[:2], (820, 180))
    torch_engine = OcrEngine(EngineSettings(backend="torch", device="cpu", threads=1))
    pages = [PageImage(image, dpi=200)]
    assert torch_engine.recognize_pages(pages)[0].text == engine.recognize_pages(pages)[0].text


def test_ocr_command_writes_json_for_png_and_pdf(engine: OcrEngine, tmp_path: Path) -> None:
    image, truth = render(LINES[:2], (820, 180))
    png, pdf, out = tmp_path / "page.png", tmp_path / "page.pdf", tmp_path / "out.json"
    cv2.imwrite(str(png), image)
    Image.fromarray(image[:, :, 0]).save(pdf, resolution=200.0)
    assert (
        cli.main(
            ["ocr", str(png), str(pdf), "--dpi", "200", "--backend", "onnx", "--json", str(out)]
        )
        == 0
    )
    documents = json.loads(out.read_text())
    assert [d["source"] for d in documents] == [str(png), str(pdf)]
    for document in documents:
        (page,) = document["pages"]
        assert abs(page["width"] - 820) <= 1 and abs(page["height"] - 180) <= 1  # PDF rounding
        assert [w["text"] for w in page["words"]] == [t for t, _ in truth]
        for word, (_, box) in zip(page["words"], truth, strict=True):
            assert iou(tuple(word["box"]), box) >= 0.5


def test_auto_backend_is_openvino_without_cuda() -> None:
    import torch

    from ocr_tasks.engine.backends import OpenVinoBackend, select_backend

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: auto means torch on CUDA")
    assert isinstance(select_backend(EngineSettings(backend="auto", device="auto")),
                      OpenVinoBackend)
    with pytest.raises(ValueError, match="Input should be 'auto', 'openvino', 'onnx' or 'torch'"):
        select_backend(EngineSettings(backend="tensorrt"))
