"""Synthetic training data: label-exact augmentations, new layouts, fonts, the dataset writer,
its CLI, and the pretrained engine reading the labelled word boxes of clean pages."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from ocr_tasks.cli import main
from ocr_tasks.core.errors import InputError
from ocr_tasks.core.geometry import Box, boxes_overlap, transform_box
from ocr_tasks.datasets import Dataset, build_card, read_pages
from ocr_tasks.datasets.synthetic import page_seed, write_synthetic
from ocr_tasks.evaluation.metrics import cer_counts
from ocr_tasks.synth import augment as aug
from ocr_tasks.synth import fonts
from ocr_tasks.synth.documents import DocSpec, render_document, training_spec

INK = 128
BOX: Box = (61.0, 47.0, 143.0, 90.0)  # pixel edges of the ink block below


def _ink_page(shape: tuple[int, int] = (160, 220)) -> np.ndarray:
    image = np.full((*shape, 3), 255, np.uint8)
    x0, y0, x1, y1 = (int(v) for v in BOX)
    image[y0:y1, x0:x1] = 20  # pixels x0..x1-1: edges x0..x1
    return image


def _ink_bounds(image: np.ndarray) -> Box:
    """Pixel-edge bounds of the dark pixels."""
    gray = image if image.ndim == 2 else image.mean(axis=2)
    ys, xs = np.nonzero(gray < INK)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _close(a: Box, b: Box, tol: float) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b, strict=True))


# --- augmentations: each label transform is exact ---------------------------------------------
@pytest.mark.parametrize("step", [
    lambda im: aug.brightness_contrast(im, 30, 0.65),
    lambda im: aug.brightness_contrast(im, -30, 1.2),
    lambda im: aug.blur(im, 1.1),
    lambda im: aug.gaussian_noise(im, 9.0, 5),
    lambda im: aug.jpeg(im, 35),
    lambda im: aug.ink_bleed(im, 1, 0.8),
    lambda im: aug.low_dpi(im, 0.5, keep_size=True)[0],
], ids=["lighter", "darker", "blur", "noise", "jpeg", "ink_bleed", "low_dpi_same_size"])
def test_photometric_steps_leave_the_ink_in_its_box(step) -> None:
    out = step(_ink_page())
    assert out.shape[:2] == (160, 220)
    assert _close(_ink_bounds(out), BOX, tol=1.0), _ink_bounds(out)


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_quarter_turns_move_boxes_exactly(turn: int) -> None:
    out, matrix = aug.quarter_turn(_ink_page(), turn)
    assert out.shape[:2] == ((220, 160) if turn % 180 else (160, 220))
    assert _ink_bounds(out) == transform_box(BOX, matrix)  # exact, to the pixel edge


def test_low_dpi_scales_boxes_exactly() -> None:
    out, matrix = aug.low_dpi(_ink_page((160, 240)), 0.5, keep_size=False)
    assert out.shape[:2] == (80, 120)
    assert transform_box(BOX, matrix) == (30.5, 23.5, 71.5, 45.0)
    assert _close(_ink_bounds(out), transform_box(BOX, matrix), tol=1.0)


@pytest.mark.parametrize("step", [
    lambda im: aug.small_rotation(im, 3.0),
    lambda im: aug.small_rotation(im, -2.2),
    lambda im: aug.perspective_tilt(im, [0.03, -0.02, -0.03, 0.01, 0.02, 0.03, -0.01, -0.02]),
], ids=["ccw", "cw", "perspective"])
def test_skew_and_perspective_move_boxes_with_the_pixels(step) -> None:
    image = _ink_page()
    out, matrix = step(image)
    moved = transform_box(BOX, matrix)
    # an ink rectangle's moved corners bound its moved pixels (to the interpolation's pixel)
    assert _close(_ink_bounds(out), moved, tol=1.0), (_ink_bounds(out), moved)
    # the canvas grew to hold the whole page: the page's corners stay inside it
    h, w = out.shape[:2]
    x0, y0, x1, y1 = transform_box((0, 0, image.shape[1], image.shape[0]), matrix)
    assert x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h


def _every_step_on(rng: random.Random) -> dict:
    params = aug.random_params(rng)
    params.update(grayscale=True, ink_bleed=0.5, rotation_deg=-2.5, quarter_turn_cw=90,
                  perspective=[0.02, 0.01, -0.02, 0.02, -0.01, -0.02, 0.01, -0.01],
                  dpi_factor=0.7, dpi_keep_size=False, blur_sigma=0.6, brightness=-20,
                  contrast=0.8, noise_std=6, jpeg_quality=50)
    return params


def test_a_full_recipe_keeps_every_word_box_on_its_ink() -> None:
    page = render_document(DocSpec("invoice", "de", font_family="dejavu-sans", stamp=True), 5)
    params = _every_step_on(random.Random(1))
    done = aug.apply(page.image, page.truth, params)
    again = aug.apply(page.image, page.truth, params)
    assert np.array_equal(done.image, again.image) and done.truth == again.truth
    h, w = done.image.shape[:2]
    assert (done.truth.width, done.truth.height) == (w, h) and w > h  # a portrait page turned
    words = done.truth.counted_words
    assert len(words) == len(page.truth.counted_words) > 50
    gray = done.image
    held = 0
    for _, (x0, y0, x1, y1) in words:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        held += bool((gray[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] < INK).any())
    assert held == len(words)


# --- layouts and fonts ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["invoice", "table", "claim_form"])
def test_new_layouts_hand_fonts_and_stamps(kind: str) -> None:
    hands = fonts.handwriting_families()
    spec = DocSpec(kind, "en", font_family="dejavu-serif" if kind == "table" else "stix",
                   hand_font=hands[0].name if hands else "", stamp=True)
    page = render_document(spec, 21)
    assert page.truth.dontcare_words, "a stamp is recorded as a don't-care region"
    stamp = page.truth.dontcare_words[0].box
    counted = page.truth.counted_words
    assert len(counted) > 40 and not any(boxes_overlap(stamp, w.box) for w in counted)
    gray = page.image.mean(axis=2)
    for _, (x0, y0, x1, y1) in counted:
        assert (gray[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] < INK).any()


def test_font_list_degrades_gracefully(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fonts.covers("sans") and not fonts.covers("sans", "漢")
    assert not fonts.covers(Path("/nonexistent/Missing-Regular.ttf"))
    missing = fonts.FontFamily("gone", Path("/nonexistent/a.ttf"), Path("/nonexistent/b.ttf"),
                               Path("/nonexistent/c.ttf"), package="fonts-gone")
    monkeypatch.setattr(fonts, "DEBIAN_FAMILIES", (missing,))
    fonts.installed_families.cache_clear()
    try:
        assert fonts.installed_families() == () and fonts.handwriting_families() == ()
        with pytest.raises(ValueError, match="fonts-gone"):
            fonts.family("gone")
        specs = [training_spec(random.Random(i)) for i in range(30)]
        assert {s.font_family for s in specs} <= {f.name for f in fonts.FAMILIES}
        assert not any(s.hand_font for s in specs)
        render_document(specs[0], 1)
    finally:
        fonts.installed_families.cache_clear()


# --- the dataset writer -----------------------------------------------------------------------
def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for page in read_pages(folder / "pages.jsonl"):
        h.update(json.dumps({**page.to_dict(), "image": Path(page.image).name}).encode())
        h.update(Path(page.image).read_bytes())
    return h.hexdigest()


def test_writer_gives_n_pages_with_splits_and_card(tmp_path: Path) -> None:
    card = write_synthetic(tmp_path / "a", 12, seed=3, augment=True)
    pages = read_pages(tmp_path / "a" / "pages.jsonl")
    assert len(pages) == 12 and len({p.document for p in pages}) == 12
    assert all(Path(p.image).is_file() and p.source.startswith("synthetic/") for p in pages)
    on_disk = json.loads((tmp_path / "a" / "card.json").read_text())
    assert on_disk == card.to_dict()
    assert on_disk["totals"]["pages"] == 12
    assert sum(c["pages"] for c in on_disk["splits"]["counts"].values()) == 12
    assert {p.split for p in pages} <= {"train", "val", "test"}
    assert on_disk["characters"]["e"] > 100 and on_disk["generator"]["seed"] == 3
    assert sum(on_disk["generator"]["kinds"].values()) == 12
    # the streamed card equals the card of the pages held in memory
    assert {**build_card(Dataset(tuple(pages)), "a").to_dict(), "generator": None} == {
        **on_disk, "generator": None}
    # each image holds its truth's frame
    for p in pages[:4]:
        image = cv2.imread(p.image, cv2.IMREAD_UNCHANGED)
        assert image.shape[:2] == (p.truth.height, p.truth.width)
    recipes = [json.loads(line) for line in (tmp_path / "a" / "recipes.jsonl").open()]
    assert [r["page_seed"] for r in recipes] == [page_seed(3, i) for i in range(12)]


def test_writer_is_deterministic_prefix_stable_and_parallel(tmp_path: Path) -> None:
    write_synthetic(tmp_path / "one", 4, seed=9)
    write_synthetic(tmp_path / "two", 4, seed=9, workers=2)
    write_synthetic(tmp_path / "short", 2, seed=9)
    write_synthetic(tmp_path / "other", 2, seed=10)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    first_two = [p.to_dict()["truth"] for p in read_pages(tmp_path / "one" / "pages.jsonl")][:2]
    assert first_two == [p.to_dict()["truth"]
                         for p in read_pages(tmp_path / "short" / "pages.jsonl")]
    assert _digest(tmp_path / "short") != _digest(tmp_path / "other")
    with pytest.raises(InputError, match="not an empty folder"):
        write_synthetic(tmp_path / "one", 2, seed=9)


def test_cli_synth_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    code = main(["synth-dataset", "--out", str(out), "--pages", "3", "--seed", "4",
                 "--augment", "--image-format", "jpg", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"]["pages"] == 3 and sum(summary["splits"].values()) == 3
    assert len(list((out / "images").glob("*.jpg"))) == 3
    assert main(["synth-dataset", "--out", str(out), "--pages", "1", "--no-progress"]) == 2


# --- must show: the pretrained engine reads the labelled word boxes --------------------------
CROP_CER_LIMIT = 0.02


def _crop_cer(folder: Path, engine, per_page: int = 60) -> tuple[int, int]:
    """(edits, characters) of the engine reading ~``per_page`` labelled word crops a page
    (upright pages only: a quarter-turned page's words are sideways)."""
    recipes = [json.loads(line) for line in (folder / "recipes.jsonl").open()]
    crops, refs = [], []
    for page, recipe in zip(read_pages(folder / "pages.jsonl"), recipes, strict=True):
        if (recipe["augment"] or {}).get("quarter_turn_cw"):
            continue
        image = cv2.imread(page.image, cv2.IMREAD_COLOR)
        words = page.truth.counted_words
        for text, (x0, y0, x1, y1) in words[:: max(1, len(words) // per_page)]:
            crops.append(image[round(y0):round(y1), round(x0):round(x1)])
            refs.append(text)
    edits = chars = 0
    for ref, (hyp, _) in zip(refs, engine.recognize_crops(crops), strict=True):
        e, n = cer_counts(ref, hyp)
        edits, chars = edits + e, chars + n
    return edits, chars


def test_pretrained_engine_reads_the_labelled_word_boxes(tmp_path: Path) -> None:
    """Labels are exact when the pretrained recognizer, given each labelled word box, reads
    the labelled text: crop CER near 0 on clean pages (0.002 measured on 3,387 words of 24
    pages; the errors are lone '|' separators read as '1'), and on augmented upright pages
    (skew, perspective, noise, blur, JPEG: 0.0014 on 11 pages)."""
    from ocr_tasks.core.config import EngineSettings
    from ocr_tasks.engine.predictor import get_engine

    engine = get_engine(EngineSettings(backend="onnx", threads=1))
    write_synthetic(tmp_path / "clean", 3, seed=1)
    edits, chars = _crop_cer(tmp_path / "clean", engine)
    print(f"clean crop CER {edits / chars:.4f} ({edits} edits, {chars} characters)")
    assert chars > 600 and edits / chars <= CROP_CER_LIMIT, (edits, chars)
    write_synthetic(tmp_path / "augmented", 2, seed=5, augment=True)
    edits, chars = _crop_cer(tmp_path / "augmented", engine, per_page=40)
    print(f"augmented crop CER {edits / chars:.4f} ({edits} edits, {chars} characters)")
    assert chars > 200 and edits / chars <= CROP_CER_LIMIT, (edits, chars)
