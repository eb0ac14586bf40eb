"""Quality measurement: sidecars, aligned scoring, canaries, audit sample, calibration.

Engines here are tiny fakes: what is under test is truth handling and scoring, not OCR.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ocr_tasks.core.config import PipelineSettings
from ocr_tasks.document import Line, Page, Word, box_polygon
from ocr_tasks.evaluation.metrics import align_lines_by_boxes, cer_counts
from ocr_tasks.io.storage import LocalStore
from ocr_tasks.lake.tables import Lake
from ocr_tasks.page_image import PageImage
from ocr_tasks.quality.audit import (
    PENDING,
    RETURNED,
    AuditSampler,
    score_returned_audits,
)
from ocr_tasks.quality.batch_quality import BatchQuality, SourceDocument, micro_cer
from ocr_tasks.quality.calibration import calibration_table, review_threshold
from ocr_tasks.quality.scoring import (
    SampleContext,
    pair_by_boxes,
    sample_rows,
    upright_box,
    visual_lines,
)
from ocr_tasks.quality.sidecars import load_sidecar
from ocr_tasks.truth import TruthPage, TruthSegment, parse_funsd, parse_txt, sidecar_keys

NOW = datetime(2026, 11, 25, tzinfo=UTC)
CTX = SampleContext("run1", "b1", "sidecar", "doc1", 0, "m1", NOW)


def line(text: str, box: tuple[float, float, float, float], conf: float = 0.99) -> Line:
    x0, _, x1, _ = box
    words, x, step = [], x0, (x1 - x0) / max(1, len(text))
    for token in text.split(" "):
        w_box = (x, box[1], x + step * len(token), box[3])
        words.append(Word(token, conf, box_polygon(w_box)))
        x += step * (len(token) + 1)
    return Line(text, conf, box_polygon(box), tuple(words))


def page(lines: list[Line], index: int = 0, rotation: int = 0) -> Page:
    return Page(index, 1000, 800, 150.0, tuple(lines), rotation=rotation, model_version="m1")


FORM = [("Policy number", (50, 100, 250, 130)), ("POL-2026-001", (300, 102, 500, 132)),
        ("Insured", (50, 200, 180, 230)), ("Maria Keller", (300, 200, 480, 230))]


def funsd(entries: list[tuple[str, tuple[int, ...]]]) -> dict[str, Any]:
    return {"form": [{"box": list(b), "text": t, "label": "other", "id": i, "linking": [],
                      "words": [{"box": list(b), "text": t}]} for i, (t, b) in enumerate(entries)]}


# ----------------------------------------------------------------------------- sidecars


def test_txt_sidecar_pages_split_at_form_feeds() -> None:
    pages = parse_txt(b"first line\nsecond\n\f\npage two\f")
    assert [p.lines for p in pages] == [("first line", "second"), ("page two",)]
    assert not pages[0].has_boxes


def test_funsd_sidecar_single_and_multi_page() -> None:
    single = parse_funsd(json.dumps(funsd(FORM)).encode())
    assert len(single) == 1
    assert single[0].boxed_segments[1] == ("POL-2026-001", (300, 102, 500, 132))
    multi = parse_funsd(json.dumps({"pages": [funsd(FORM[:2]), funsd(FORM[2:])]}).encode())
    assert [len(p.segments) for p in multi] == [2, 2] and multi[1].words[0][0] == "Insured"
    assert multi[0].scaled(2.0).boxed_segments[0][1] == (100, 200, 500, 260)


def test_sidecar_lookup_prefers_json_and_skips_malformed(tmp_path: Path) -> None:
    assert sidecar_keys("a/b/claim.v2.pdf") == ("a/b/claim.v2.gt.json", "a/b/claim.v2.gt.txt")
    store = LocalStore(tmp_path)
    store.put("a/claim.gt.txt", b"text only")
    assert load_sidecar(store, "a/claim.pdf")[0].lines == ("text only",)
    store.put("a/claim.gt.json", json.dumps(funsd(FORM)).encode())
    assert load_sidecar(store, "a/claim.pdf")[0].has_boxes
    store.put("a/claim.gt.json", b"{not json")
    assert load_sidecar(store, "a/claim.pdf")[0].lines == ("text only",)
    assert load_sidecar(store, "a/other.png") is None


# ------------------------------------------------------------------------------ scoring


def test_visual_lines_join_label_and_value_even_when_skewed() -> None:
    skewed = [(t, (b[0], b[1] + 0.05 * b[0], b[2], b[3] + 0.05 * b[2])) for t, b in FORM]
    assert [t for t, _ in visual_lines(skewed, slope=0.05)] == [
        "Policy number POL-2026-001", "Insured Maria Keller"]


def test_upright_box_undoes_quarter_turns() -> None:
    # a page 1000 wide, 800 high turned 90 degrees clockwise becomes 800 wide, 1000 high
    assert upright_box((100, 50, 300, 80), 90, 1000, 800) == (720, 100, 750, 300)
    assert upright_box((100, 50, 300, 80), 180, 1000, 800) == (700, 720, 900, 750)
    assert upright_box(upright_box((100, 50, 300, 80), 90, 1000, 800), 270, 800, 1000) == (
        100, 50, 300, 80)


def test_shuffled_reading_order_costs_nothing_with_boxes() -> None:
    truth = parse_funsd(json.dumps(funsd(FORM)).encode())[0]
    pred = [line("Maria Keller", FORM[3][1]), line("Policy number", FORM[0][1]),
            line("Insured", FORM[2][1]), line("POL-2026-001", FORM[1][1])]
    rows = sample_rows(CTX, truth, page(pred))
    page_row = rows[0]
    assert page_row["level"] == "page" and page_row["edits"] == 0 and page_row["cer"] == 0.0
    assert page_row["reference"] == "Policy number POL-2026-001\nInsured Maria Keller"
    naive, chars = cer_counts(page_row["reference"], page(pred).text)
    assert naive / chars > 0.5  # what the page text alone would have claimed
    assert {r["level"] for r in rows} == {"page", "line", "word"}


def test_text_truth_is_aligned_by_content_and_errors_count() -> None:
    truth = TruthPage(lines=("Policy number POL-2026-001", "Insured Maria Keller"))
    pred = [line("Insured Maria Kel1er", (0, 0, 10, 10), 0.6),
            line("Policy number POL-2026-001", (0, 20, 10, 30))]
    rows = sample_rows(CTX, truth, page(pred))
    assert rows[0]["edits"] == 1 and rows[0]["ref_chars"] == 46
    lines = [r for r in rows if r["level"] == "line"]
    assert [r["confidence"] for r in lines] == [pytest.approx(0.99), pytest.approx(0.6)]


def test_box_pairing_agrees_with_metrics_alignment() -> None:
    truth = [("Policy number POL-2026-001", (50, 100, 500, 132)), ("Insured", (50, 200, 180, 230))]
    preds = [("POL-2026-001", (300, 102, 500, 132), 0.9),
             ("Policy number", (50, 100, 250, 130), 0.8),
             ("stamp", (800, 500, 900, 540), 0.5)]
    pairs = pair_by_boxes(truth, preds)
    expected = align_lines_by_boxes(truth, [(t, b) for t, b, _ in preds])
    assert [(p.reference, p.prediction) for p in pairs] == expected
    assert pairs[0].confidence == pytest.approx((0.9 * 12 + 0.8 * 13) / 25)
    assert pairs[1].confidence is None and pairs[2].confidence == 0.5


def test_rotated_page_joins_pieces_in_reading_order() -> None:
    # an upside-down page: truth and prediction boxes in the delivered (rotated) frame
    truth = TruthPage(segments=(TruthSegment("Policy number POL-1", (500, 670, 950, 700)),))
    pred = [line("Policy number", (750, 670, 950, 700)), line("POL-1", (500, 670, 700, 700))]
    rows = sample_rows(CTX, truth, page(pred, rotation=180))
    assert rows[0]["prediction"] == "Policy number POL-1" and rows[0]["edits"] == 0


# ------------------------------------------------------------------------ batch quality


class EchoEngine:
    """Reads every page as one line whose text is a digest of the pixels: deterministic,
    different for different images, and wrong (so CER is high, as for a broken model)."""

    model_version = "echo-1"

    def recognize_pages(self, pages: list[PageImage]) -> list[Page]:
        out = []
        for p in pages:
            text = f"{int(p.image.astype(np.int64).sum()) % 99991:05d}"
            out.append(Page(p.index, p.width, p.height, p.dpi,
                            (line(text, (0, 0, p.width, 40), 0.4),), model_version="echo-1"))
        return out


def run_quality(tmp_path: Path, batch_id: str, settings: PipelineSettings, docs: int = 0) -> Any:
    quality = BatchQuality("run1", batch_id, LocalStore(tmp_path / "src"), EchoEngine(), settings,
                           LocalStore(tmp_path / "lake"))
    for i in range(docs):
        doc = SourceDocument(f"doc{i}", str(tmp_path / f"src/d/doc{i}.png"), f"d/doc{i}.png", "png")
        image = PageImage(np.full((60, 80), i, np.uint8), 0, 150.0)
        quality.observe(doc, image, EchoEngine().recognize_pages([image])[0])
    return quality.finish()


def without_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "created_at"} for r in rows]


def test_canaries_are_a_function_of_the_batch_id(tmp_path: Path) -> None:
    settings = PipelineSettings(canary_pages=1, audit_pages=0, canary_dpi=60)
    first = run_quality(tmp_path, "b0001", settings)
    again = run_quality(tmp_path, "b0001", settings)
    other = run_quality(tmp_path, "b0002", settings)
    assert first.canary_pages == 1 and first.rows
    assert without_time(first.rows) == without_time(again.rows)
    assert first.rows[0]["doc_id"] != other.rows[0]["doc_id"]
    assert {r["source"] for r in first.rows} == {"canary"}
    # a broken engine: the batch CER is far above any sensible threshold
    assert first.cer is not None and first.cer > 0.9 and first.cer_low <= first.cer


def test_sidecar_pages_are_scored_and_audit_sample_written(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "src")
    store.put("d/doc0.gt.txt", b"12345\f")
    settings = PipelineSettings(canary_pages=0, audit_pages=2)
    summary = run_quality(tmp_path, "b0001", settings, docs=3)
    sidecar = [r for r in summary.rows if r["level"] == "page"]
    assert [(r["source"], r["doc_id"]) for r in sidecar] == [("sidecar", "doc0")]
    assert summary.cer == sidecar[0]["edits"] / 5
    assert len(summary.audit_keys) == 2
    assert all(k.startswith(f"{PENDING}/b0001/") for k in summary.audit_keys)
    again = run_quality(tmp_path, "b0001", settings, docs=3)
    assert again.audit_keys == summary.audit_keys


def test_audit_sample_is_uniform_and_deterministic() -> None:
    def draw(batch_id: str) -> list[int]:
        sampler = AuditSampler(batch_id, 3)
        for i in range(50):
            sampler.offer(i)  # type: ignore[arg-type]
        return sampler.sample  # type: ignore[return-value]

    assert draw("b1") == draw("b1") and draw("b1") != draw("b2")
    counts = np.zeros(50)
    for n in range(400):
        counts[draw(f"b{n}")] += 1
    assert counts.min() > 5 and counts.max() < 50  # 24 expected per page


def test_returned_audits_are_scored_once(tmp_path: Path) -> None:
    settings = PipelineSettings(canary_pages=0, audit_pages=1)
    summary = run_quality(tmp_path, "b0001", settings, docs=2)
    lake = Lake.open(str(tmp_path / "lake"))
    assert score_returned_audits(lake) == []
    name = summary.audit_keys[0].split("/")[-1].removesuffix(".png")
    lake.store.put(f"{RETURNED}/b0001/{name}.gt.txt", b"00000")
    rows = score_returned_audits(lake)
    assert rows and {r["source"] for r in rows} == {"audit"}
    assert rows[0]["doc_id"] in {"doc0", "doc1"}
    assert score_returned_audits(lake) == []
    table = lake.read_table("cer_samples").to_pylist()
    assert len(table) == len(rows) and table[0]["run_id"] == "run1"


# --------------------------------------------------------------------------- calibration


def test_calibration_bins_and_review_threshold() -> None:
    rng = random.Random(3)
    rows = []
    for _ in range(2000):
        conf = rng.random()
        wrong = rng.random() > conf  # a perfectly calibrated engine
        rows.append({"level": "word", "confidence": conf, "reference": "abcd",
                     "prediction": "abXd" if wrong else "abcd", "edits": int(wrong),
                     "ref_chars": 4})
    table = calibration_table(rows, "word")
    assert sum(b.samples for b in table) == 2000
    for b in table:
        if b.samples > 100:
            assert b.error_rate == pytest.approx(1 - b.mean_confidence, abs=0.08)
    pages = [{"level": "page", "confidence": c, "edits": e, "ref_chars": 100}
             for c, e in [(0.99, 1), (0.95, 3), (0.9, 8), (0.7, 30), (0.5, 60)]]
    pick = review_threshold(pages, 0.05)
    assert pick is not None and pick.threshold == 0.95 and pick.flagged == pytest.approx(0.6)
    assert (pick.caught, pick.missed, pick.needless) == (3, 0, 0)
    assert review_threshold(pages, 0.5).threshold == 0.7  # only the 60 % page is bad
    assert review_threshold([], 0.1) is None
    assert micro_cer(pages)[0] == pytest.approx(102 / 500)
