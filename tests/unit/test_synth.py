"""Synthetic documents: determinism, ground-truth alignment, degradations, sample archive."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ocr_tasks.synth.canary import MAX_CANARY_LINES, canary_seed, render_canary
from ocr_tasks.synth.degrade import rotate_quarter, scan_profile, skew
from ocr_tasks.synth.documents import KINDS, DocSpec, render_document
from ocr_tasks.synth.fake_data import FakeData
from ocr_tasks.synth.fonts import CORE_FACES, MATPLOTLIB_TTF_DIR, load_font
from ocr_tasks.truth import TruthPage

INK = 128  # a pixel darker than this counts as ink


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else image.mean(axis=2)


def _boxes_hold_ink(image: np.ndarray, boxes: list[tuple[float, ...]], min_share: float) -> float:
    """Share of boxes that lie inside the image and contain at least one ink pixel."""
    gray = _gray(image)
    h, w = gray.shape
    good = 0
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (x0, y0, x1, y1, w, h)
        crop = gray[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
        good += bool((crop < INK).any())
    share = good / len(boxes)
    assert share >= min_share, share
    return share


def test_fake_data_is_deterministic_and_well_formed() -> None:
    a, b = FakeData(3), FakeData(3)
    values = [(f.person_name(), f.policy_number(), f.claim_number(), f.iban(), f.plate(),
               f.amount().format(), f.email(), f.phone(), f.insurer()) for f in (a, b)]
    assert values[0] == values[1]
    assert values[0] != (lambda f: (f.person_name(), f.policy_number()))(FakeData(4))
    _, policy, claim, iban, *_ = values[0]
    assert policy.startswith("POL-") and len(policy) == len("POL-2024-000123")
    assert claim.startswith("CLM-")
    raw = iban.replace(" ", "")  # ISO 13616: rearranged number mod 97 == 1
    assert int("".join(str(int(c, 36)) for c in raw[4:] + raw[:4])) % 97 == 1


def test_core_fonts_come_from_matplotlib() -> None:
    for face in CORE_FACES:
        font = load_font(face, 20)
        assert Path(font.path).parent == MATPLOTLIB_TTF_DIR
        assert font.getlength("Schadenmeldung Müller 1.234,56 EUR") > 0


@pytest.mark.parametrize("kind", KINDS)
def test_every_layout_word_box_holds_ink(kind: str) -> None:
    dpi = 300 if kind == "id_card" else 150
    page = render_document(DocSpec(kind, "de", font_family="dejavu-serif", dpi=dpi), 11)
    words = page.truth.reading_words()
    assert len(words) > 10
    _boxes_hold_ink(page.image, [b for _, b in words], min_share=1.0)


def test_canary_is_deterministic_and_seed_dependent() -> None:
    a, b = render_canary(1234), render_canary(1234)
    assert a.page.image.tobytes() == b.page.image.tobytes()
    assert (a.words, a.lines, a.text, a.params) == (b.words, b.lines, b.text, b.params)
    c = render_canary(1235)
    assert c.text != a.text
    assert c.page.image.shape != a.page.image.shape or not np.array_equal(c.page.image,
                                                                          a.page.image)


def test_canary_seed_is_stable_across_processes() -> None:
    # pinned value: a different result means str hashing crept in (salted per process)
    assert canary_seed("batch-2026-11-24-0001", 0) == canary_seed("batch-2026-11-24-0001", 0)
    assert canary_seed("b", 0) != canary_seed("b", 1) != canary_seed("c", 0)
    assert canary_seed("b", 0) == 4044063893081588702


def test_canary_is_identical_in_another_process() -> None:
    """Workers render canaries in their own processes (other hash salt, other import order)."""
    code = (
        "import hashlib; from ocr_tasks.synth.canary import render_canary as r; c = r(77); "
        "print(hashlib.sha256(c.page.image.tobytes() + c.text.encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=120).stdout.strip()
    here = render_canary(77)
    assert out == hashlib.sha256(here.page.image.tobytes() + here.text.encode()).hexdigest()


def test_canary_truth_matches_pixels_and_budget() -> None:
    for i in range(3):
        canary = render_canary(canary_seed("unit", i))
        assert 10 <= len(canary.lines) <= MAX_CANARY_LINES
        assert canary.text == "\n".join(t for t, _ in canary.lines)
        assert " ".join(canary.text.split()) == " ".join(t for t, _ in canary.words)
        _boxes_hold_ink(canary.page.image, [b for _, b in canary.words], min_share=0.98)
        json.dumps(canary.params)  # recorded with every CER sample


def test_canary_renders_fast() -> None:
    render_canary(1)  # font loading and the noise table are one-off costs
    best = min(_cpu_time(lambda s=s: render_canary(s)) for s in (2, 3, 4))
    assert best < 0.3, best


def _cpu_time(fn: Callable[[], object]) -> float:
    """CPU seconds of this process: robust on a machine shared with other jobs."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def test_quarter_rotation_moves_boxes_with_the_pixels() -> None:
    page = render_document(DocSpec("letter", "en"), 5)
    for deg in (90, 180, 270):
        image, matrix = rotate_quarter(page.image, deg)
        truth = page.truth.transformed(matrix, image.shape[1], image.shape[0])
        if deg != 180:
            assert image.shape[:2] == page.image.shape[1::-1]
        _boxes_hold_ink(image, [b for _, b in truth.reading_words()], min_share=1.0)


def test_skew_moves_boxes_with_the_pixels() -> None:
    page = render_document(DocSpec("claim_form", "en"), 6)
    image, matrix = skew(page.image, 2.5)
    truth = page.truth.transformed(matrix, image.shape[1], image.shape[0])
    _boxes_hold_ink(image, [b for _, b in truth.reading_words()], min_share=1.0)
    # the tight boxes grow by the rotation, but not by more than the geometry allows
    for (_, before), (_, after) in zip(page.truth.reading_words(), truth.reading_words(),
                                       strict=True):
        width, height = before[2] - before[0], before[3] - before[1]
        assert after[2] - after[0] <= width * 1.01 + height * 0.05


def test_severity_increases_degradation() -> None:
    page = render_document(DocSpec("policy_schedule", "en"), 8)
    clean = cv2.cvtColor(page.image, cv2.COLOR_BGR2GRAY).astype(float)
    diffs, noise = [], []
    for severity in (0.0, 1.0, 3.0):
        out = scan_profile(page.image, random.Random(99), severity, rotation_probability=0,
                           grayscale=True, overrides={"skew_deg": 0.0})
        diffs.append(float(np.abs(out.image.astype(float) - clean).mean()))
        noise.append(out.params["noise_std"])
    assert diffs[0] == 0.0
    assert diffs[0] < diffs[1] < diffs[2]
    assert noise[0] < noise[1] < noise[2]


def test_funsd_export_shape() -> None:
    truth: TruthPage = render_document(DocSpec("claim_form", "en"), 9).truth
    form = truth.to_funsd()["form"]
    assert [e["id"] for e in form] == list(range(len(form)))
    for entry in form:
        assert set(entry) == {"box", "text", "label", "words", "id", "linking"}
        assert entry["label"] in {"header", "question", "answer", "other"}
        assert entry["text"] == " ".join(w["text"] for w in entry["words"])
        assert all(isinstance(v, int) for v in entry["box"])
    assert any(e["linking"] for e in form)  # questions link to their answers


def test_make_sample_archive(tmp_path: Path) -> None:
    from ocr_tasks.synth.archive import make_sample_archive

    files = make_sample_archive(tmp_path, seed=7)
    docs = [p for p in files if not p.name.endswith((".gt.txt", ".gt.json"))]
    assert {p.suffix for p in docs} >= {".pdf", ".tif", ".png", ".jpg"}
    assert any(not p.name.isascii() and " " in p.name for p in docs)
    assert len({p.parent for p in docs}) >= 4  # nested like a real drop
    assert sum(p.stat().st_size for p in files) <= 6_000_000

    with_truth = 0
    for doc in docs:
        txt = doc.with_name(doc.stem + ".gt.txt")
        js = doc.with_name(doc.stem + ".gt.json")
        if not txt.exists():
            continue
        with_truth += 1
        pages_text = txt.read_text(encoding="utf-8").rstrip("\n").split("\f")
        data = json.loads(js.read_text(encoding="utf-8"))
        pages = data["pages"] if "pages" in data else [data]
        assert len(pages) == len(pages_text)
        for text, page in zip(pages_text, pages, strict=True):
            assert page["form"] and text.strip()
            words = [w["text"] for e in page["form"] for w in e["words"]]
            assert set(text.split()) == set(words)
    assert with_truth == len(docs) - 1  # all but the deliberately broken upload

    tiff = next(p for p in docs if p.suffix == ".tif")
    with Image.open(tiff) as im:
        assert im.n_frames == 3 and im.info.get("compression") == "group4"
    bundle = next(p for p in docs if p.name == "claim_bundle.pdf")
    data = bundle.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    broken = next(p for p in docs if p.name == "claim_upload_incomplete.pdf")
    assert b"%%EOF" not in broken.read_bytes()
