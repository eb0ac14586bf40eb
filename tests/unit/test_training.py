"""Staged fine-tuning on tiny rendered pages: CTC and DB losses, targets, charset extension,
guards, resume, and the ``train`` command end to end."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ocr_tasks.cli import main
from ocr_tasks.core.errors import TrainingError
from ocr_tasks.core.geometry import union_box
from ocr_tasks.datasets import Dataset, LabelledPage, write_pages
from ocr_tasks.engine import models
from ocr_tasks.engine import postprocess as post
from ocr_tasks.engine.models.recognizer import TextRecognizer
from ocr_tasks.synth.documents import DocSpec, render_document
from ocr_tasks.training import BUNDLE_FILES, TrainConfig, load_bundle, train
from ocr_tasks.training.charset import extend_recognizer, extended_charset
from ocr_tasks.training.data import TextCrop, load_page, text_crops
from ocr_tasks.training.detection import box_polygon, db_targets
from ocr_tasks.training.recognition import (
    build_pool,
    class_map,
    ctc_batch,
    ctc_loss,
    distill_loss,
)
from ocr_tasks.training.stages import Trainer, prepare
from ocr_tasks.training.validation import engine_for, falls_behind, production_runtime
from ocr_tasks.truth import TruthPage, TruthSegment

WINDOW = (352, 224)  # width, height of the tiny pages (detector sides: multiples of 32)


@cache
def _tiny(seed: int) -> tuple[np.ndarray, TruthPage]:
    """The top-left of a rendered claim form, with the segments lying wholly inside it."""
    page = render_document(DocSpec("claim_form", dpi=100, body_pt=12.0), seed)
    w, h = WINDOW
    x0, y0 = 40, 30
    image = np.ascontiguousarray(page.image[y0 : y0 + h, x0 : x0 + w])
    segments = []
    for s in page.truth.segments:
        words = tuple(
            type(word)(word.text, (word.box[0] - x0, word.box[1] - y0, word.box[2] - x0,
                                   word.box[3] - y0))
            for word in s.words)
        if not words or any(b.box[0] < 0 or b.box[1] < 0 or b.box[2] > w or b.box[3] > h
                            for b in words):
            continue
        segments.append(TruthSegment(" ".join(x.text for x in words),
                                     union_box(x.box for x in words), words, s.label,
                                     len(segments), s.row))
    assert len(segments) >= 3
    return image, TruthPage(segments=tuple(segments), width=w, height=h)


def _labelled(tmp: Path, seed: int, split: str) -> LabelledPage:
    image, truth = _tiny(seed)
    path = tmp / f"page{seed}.png"
    cv2.imwrite(str(path), image)
    return LabelledPage(f"synth:{seed}", str(path), truth, "synth", f"doc{seed}", split=split)


def _dataset(tmp: Path) -> Dataset:
    return Dataset((_labelled(tmp, 1, "train"), _labelled(tmp, 2, "train"),
                    _labelled(tmp, 3, "val")))


def _config(**overrides: object) -> TrainConfig:
    base = dict(stages=2, steps_per_stage=2, rec_batch=4, det_batch=1, det_size=128,
                det_every=1, warmup_steps=1, threads=1, parts=("rec", "det"))
    return TrainConfig.defaults("cpu", **{**base, **overrides})


def test_ctc_loss_decreases_on_a_tiny_overfit(tmp_path: Path) -> None:
    torch.manual_seed(0)
    page = load_page(_labelled(tmp_path, 1, "train"))
    charset = models.charset()
    # the pretrained model reads these crops already: teach it their case swapped instead
    crops = [TextCrop(c.image, c.text.swapcase()) for c in text_crops(page)
             if c.text.swapcase() != c.text]
    pool = build_pool(crops, charset, max_width=240)
    pool.crops, pool.labels = pool.crops[:4], pool.labels[:4]
    assert len(pool) == 4
    model = models.load_recognizer()
    assert isinstance(model, TextRecognizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, targets, steps, lengths = ctc_batch(pool, list(range(len(pool))))
    losses = []
    for _ in range(4):
        loss = ctc_loss(model.logits(x), targets, steps, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    # the logits are the recognizer's own output before its softmax
    with torch.no_grad():
        assert torch.allclose(torch.softmax(model.logits(x), -1), model(x), atol=1e-5)


def test_db_targets_for_a_known_box() -> None:
    t = db_targets([box_polygon((20, 20, 80, 40))], [box_polygon((0, 90, 30, 100))], 100, 100)
    # shrink distance D = A (1 - 0.4^2) / L = 1200 * 0.84 / 160 = 6.3 px
    assert t.shrink[30, 50] == 1 and t.shrink[30, 27] == 1 and t.shrink[30, 25] == 0
    assert t.shrink[22, 50] == 0 and t.shrink[10, 10] == 0
    assert t.shrink.sum() == pytest.approx((73 - 27 + 1) * (34 - 26 + 1), rel=0.15)
    assert t.shrink_mask[95, 10] == 0 and t.shrink_mask[50, 50] == 1  # don't-care masked
    assert t.thresh[20, 50] == pytest.approx(0.7) and t.thresh[30, 50] == pytest.approx(0.3)
    assert t.thresh[17, 50] == pytest.approx(0.3 + 0.4 * (1 - 3 / 6.3), abs=0.02)
    assert t.thresh_mask[15, 50] == 1 and t.thresh_mask[10, 50] == 0
    # a box too small to shrink is ignored, not taught as background
    small = db_targets([box_polygon((10, 10, 40, 15))], [], 50, 50)
    assert small.shrink.sum() == 0 and small.shrink_mask[12, 20] == 0


def test_charset_extension_keeps_the_old_rows() -> None:
    model = models.load_recognizer()
    assert isinstance(model, TextRecognizer)
    old = models.charset()
    new = extended_charset(old, ["Ωmega ≈ 3", "ΩΣ"])
    assert new[: len(old) - 1] == old[:-1] and new[-1] == " " and new[len(old) - 1 :] == [
        "Ω", "≈", "Σ", " "]
    x = torch.randn(2, 3, 48, 96)
    with torch.no_grad():
        before = model.logits(x)
        extend_recognizer(model, old, new)
        after = model.logits(x)
    keep = len(old) - 1
    assert after.shape[-1] == len(new)
    assert torch.equal(after[..., :keep], before[..., :keep])
    assert torch.equal(after[..., -1], before[..., -1])
    with pytest.raises(ValueError, match="extend"):
        extend_recognizer(model, new, old)


def test_long_labels_and_wide_crops_are_skipped_and_counted() -> None:
    charset = models.charset()
    narrow = np.full((48, 40, 3), 255, np.uint8)  # 5 time steps
    wide = np.full((48, 800, 3), 255, np.uint8)
    pool = build_pool([TextCrop(narrow, "ABCDEF"), TextCrop(narrow, "ABCDE"),
                       TextCrop(narrow, "AABBC"),  # 5 characters, 7 steps with the repeats
                       TextCrop(wide, "wide"), TextCrop(narrow, "AB")], charset, max_width=480)
    assert (pool.too_long, pool.too_wide, len(pool)) == (2, 1, 2)


def test_a_nan_loss_stops_training_with_a_clear_error(tmp_path: Path) -> None:
    config = _config(parts=("rec",))
    trainer = Trainer(prepare(_dataset(tmp_path), config, print), config, tmp_path, print)
    with torch.no_grad():
        trainer.rec.head.fc.bias[3] = float("nan")
    with pytest.raises(TrainingError, match=r"the rec loss is nan at step 1: training stopped"):
        trainer._train_step(np.random.default_rng(0))


def test_a_run_killed_in_stage_2_resumes_to_the_same_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, config = _dataset(tmp_path), _config()
    whole = train(dataset, tmp_path / "whole", config)
    assert [r.stage for r in whole.stages] == [0, 1, 2]

    real_step = Trainer._train_step

    def dies_in_stage_2(self: Trainer, rng: np.random.Generator) -> dict[str, float]:
        if self.step == config.steps_per_stage + 1:
            raise KeyboardInterrupt  # killed mid stage 2
        return real_step(self, rng)

    monkeypatch.setattr(Trainer, "_train_step", dies_in_stage_2)
    with pytest.raises(KeyboardInterrupt):
        train(dataset, tmp_path / "killed", config)
    assert sorted(p.name for p in (tmp_path / "killed").glob("stage-*.pt")) == [
        "stage-0.pt", "stage-1.pt"]
    monkeypatch.setattr(Trainer, "_train_step", real_step)
    logs: list[str] = []
    resumed = train(dataset, tmp_path / "killed", config, log=logs.append)
    assert any("resuming after stage 1" in line for line in logs)
    assert [r.metrics for r in resumed.stages] == [r.metrics for r in whole.stages]
    assert [r.train_loss for r in resumed.stages] == [r.train_loss for r in whole.stages]
    a = torch.load(whole.bundle / "rec.pt")
    b = torch.load(resumed.bundle / "rec.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TrainingError, match="another configuration"):
        train(dataset, tmp_path / "killed", _config(steps_per_stage=3))


def test_cuda_takes_larger_batches() -> None:
    cpu, cuda = TrainConfig.defaults("cpu"), TrainConfig.defaults("cuda")
    assert cuda.rec_batch > cpu.rec_batch and cuda.det_batch > cpu.det_batch
    assert cuda.amp and not cpu.amp
    assert TrainConfig.defaults("cpu", rec_batch=3, seed=None).rec_batch == 3


def test_each_recognizer_size_trains_with_its_own_recipe(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from ocr_tasks.core.config import SIZE_RECIPES, TrainingSettings

    small, tiny = TrainConfig.defaults("cpu"), TrainConfig.defaults("cpu", rec_size="tiny")
    for config, size in ((small, "small"), (tiny, "tiny")):
        recipe = SIZE_RECIPES[size]
        assert (config.stages, config.steps_per_stage, config.rec_lr) == (
            recipe["stages"], recipe["steps_per_stage"], recipe["rec_lr"])
    assert (tiny.stages, tiny.rec_lr) != (small.stages, small.rec_lr)
    # what the user set wins: an argument, or the environment
    assert TrainConfig.defaults("cpu", rec_size="tiny", stages=2).stages == 2
    monkeypatch.setenv("OCR_TRAIN_REC_LR", "3e-5")
    assert TrainConfig.defaults("cpu", rec_size="tiny").rec_lr == 3e-5
    monkeypatch.setenv("OCR_TRAIN_REC_SIZE", "tiny")
    assert TrainConfig.defaults("cpu").steps_per_stage == SIZE_RECIPES["tiny"]["steps_per_stage"]
    with pytest.raises(ValueError, match="unknown recognizer size"):
        TrainingSettings().recipe("huge")


def test_the_train_command_writes_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    data = tmp_path / "data"
    write_pages(_dataset(tmp_path).pages, data / "pages.jsonl")
    work = tmp_path / "work"
    code = main(["train", "--data", str(data), "--format", "dataset", "--work", str(work),
                 "--stages", "1", "--steps-per-stage", "2", "--device", "cpu", "--threads",
                 "1", "--name", "tiny"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["stage"] for s in summary["stages"]] == [0, 1]
    assert {"crop_cer", "e2e_cer", "hmean", "ap50"} <= set(summary["stages"][1])
    bundle = work / "bundle"
    assert sorted(p.name for p in bundle.iterdir()) == sorted(BUNDLE_FILES)
    rec, det, charset, meta = load_bundle(bundle)
    assert charset[0] == "<blank>" and charset[-1] == " "
    assert rec.head.fc.out_features == len(charset)
    assert meta["name"] == "tiny" and meta["parent"] == models.MODEL_VERSION
    assert [s["stage"] for s in meta["stages"]] == [0, 1]
    assert meta["dataset"]["splits"]["counts"]["val"]["pages"] == 1
    assert meta["promoted_stage"] == summary["best_stage"]
    # the bundle runs in the real engine
    image, truth = _tiny(3)
    engine = engine_for({"det": det, "rec": rec, "cls": models.load_direction_classifier()},
                        charset, "tiny")
    (page,) = engine.recognize_pages([load_page(_labelled(tmp_path, 3, "val")).page])
    assert page.lines and post.REC_STRIDE == 8


def test_bad_arguments_are_one_line_errors(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(tmp_path), "--work", str(tmp_path / "w"),
                 "--fractions", "0.8,0.2"]) == 2
    assert "--fractions '0.8,0.2': three non-negative shares" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing"), "--work", str(tmp_path)]) == 2
    assert "no dataset folder" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--format", "dataset", "--work",
                 str(tmp_path)]) == 2
    assert "no pages.jsonl" in capsys.readouterr().err


def test_the_distillation_loss_is_a_per_frame_kl_over_shared_classes() -> None:
    teacher_charset = ["<blank>", "a", "b", "c", " "]
    student_charset = ["<blank>", "a", "c", "x", " "]  # no "b"; "x" unknown to the teacher
    student_idx, teacher_idx = class_map(student_charset, teacher_charset)
    assert student_idx.tolist() == [0, 1, 2, 4] and teacher_idx.tolist() == [0, 1, 3, 4]
    torch.manual_seed(0)
    teacher = torch.softmax(torch.randn(2, 6, 5), -1)
    teacher[..., 2] = 0.0  # "b" gets nothing, so the renormalized target is exact
    teacher = teacher / teacher.sum(-1, keepdim=True)
    moved = torch.full((2, 6, 5), 1e-12)
    moved[..., student_idx] = teacher[..., teacher_idx]
    lengths = torch.tensor([6, 4])
    matching = torch.log(moved)
    assert distill_loss(matching, teacher, (student_idx, teacher_idx), lengths) < 1e-6
    other = torch.randn(2, 6, 5)
    loss = distill_loss(other, teacher, (student_idx, teacher_idx), lengths)
    assert loss > 0.05
    # padding frames (beyond each crop's length) count for nothing
    other[1, 4:] = 50.0
    assert torch.isclose(distill_loss(other, teacher, (student_idx, teacher_idx), lengths), loss)


def test_a_smaller_model_holds_accuracy_within_the_tolerance() -> None:
    reference = {"e2e_cer": 0.080, "hmean": 0.910}
    assert falls_behind({"e2e_cer": 0.084, "hmean": 0.906}, reference) == []
    assert falls_behind({"e2e_cer": 0.086, "hmean": 0.906}, reference) == ["e2e_cer"]
    assert falls_behind({"e2e_cer": 0.070, "hmean": 0.900}, reference) == ["hmean"]


def test_the_tiny_recognizer_trains_from_the_small_one_into_its_own_bundle(
    tmp_path: Path,
) -> None:
    config = _config(parts=("rec",), stages=1, rec_size="tiny", distill=1.0)
    result = train(_dataset(tmp_path), tmp_path / "work", config, name="tiny-claims")
    assert "distill" in result.stages[1].train_loss and result.stages[1].train_loss["distill"] > 0
    rec, _det, charset, meta = load_bundle(result.bundle)
    assert meta["rec_size"] == "tiny" == rec.size
    assert meta["parent"] == models.pretrained_version("tiny") != models.MODEL_VERSION
    assert rec.head.fc.out_features == len(charset)
    # judged against the bundled model on the same validation pages
    reference = meta["reference"]
    assert reference["model"] == models.MODEL_VERSION and reference["metrics"]["pages"] == 1
    judged = meta["judged"]
    assert judged["stage"] == meta["promoted_stage"]
    # both run as this host's workers would run them
    assert reference["metrics"]["backend"] == judged["metrics"]["backend"] == (
        production_runtime("cpu"))
    assert meta["falls_behind_in"] == falls_behind(judged["metrics"], reference["metrics"])
    assert meta["holds_accuracy"] == (not meta["falls_behind_in"])
    assert result.against_bundled["holds_accuracy"] == meta["holds_accuracy"]
    base = models.charset(size="tiny")
    assert charset[: len(base) - 1] == base[:-1] and charset[-1] == " "
    small = sum(p.numel() for p in models.load_recognizer().parameters())
    assert sum(p.numel() for p in rec.parameters()) < small / 4


def test_synthetic_pages_only_train(tmp_path: Path) -> None:
    from ocr_tasks.training.sources import load_dataset, synthetic_pages

    synth = synthetic_pages(2, tmp_path / "synth")
    assert synth == synthetic_pages(2, tmp_path / "synth")  # the same pages again
    assert {p.split for p in synth} == {"train"} and len({p.document for p in synth}) == 2
    assert all(p.truth.counted_words for p in synth)
    data = tmp_path / "data"
    write_pages(_dataset(tmp_path).pages, data / "pages.jsonl")
    both = load_dataset(data=data, fmt="dataset", synthetic=synth)
    alone = load_dataset(data=data, fmt="dataset", synthetic=synth, synthetic_only=True)
    assert len(both.split("train")) == 4 and len(both.split("val")) == 1
    assert alone.split("train") == tuple(synth) and len(alone.split("val")) == 1


def test_line_labels_are_the_words_of_a_visual_line() -> None:
    from ocr_tasks.training.data import visual_lines
    from ocr_tasks.truth import TruthWord

    words = (TruthWord("9/", (0, 0, 10, 10)), TruthWord("3/", (10, 0, 20, 10)),
             TruthWord("92", (21, 0, 30, 10)), TruthWord("Date", (40, 0, 60, 10)),
             TruthWord("next", (0, 20, 30, 30)), TruthWord("", (35, 20, 50, 30)))
    page = TruthPage(segments=(TruthSegment("", (0, 0, 60, 30), words),))
    assert visual_lines(page) == [("9/ 3/ 92 Date", (0, 0, 60, 10)), ("next", (0, 20, 30, 30))]
