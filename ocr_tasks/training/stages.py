"""Staged fine-tuning: train, validate, keep the best, resume where a run stopped.

Stage 0 is the pretrained start (PP-OCRv6 with the charset extended by the training labels),
validated before any step. Each later stage runs ``steps_per_stage`` optimizer steps (CTC on
text crops for the recognizer, the DB loss on page windows for the detector) and is then
validated; a stage worse than the start in crop CER or end-to-end CER is reported and never
promoted, and the best promoted stage (lowest end-to-end CER) becomes the bundle.

Every finished stage leaves ``stage-<k>.pt`` (modules, optimizer, RNG state, step, figures)
in the work folder. Each stage draws its samples from its own seed, so a run killed during
stage k and started again with the same command resumes after stage k-1 and ends with the
same figures as a run never stopped. The test split is never read.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ocr_tasks.core.config import EngineSettings, TrainingSettings
from ocr_tasks.core.errors import TrainingError
from ocr_tasks.datasets import Dataset, LabelledPage, build_card
from ocr_tasks.engine import models
from ocr_tasks.engine.models.detector import TextDetector
from ocr_tasks.engine.models.recognizer import TextRecognizer
from ocr_tasks.engine.preprocess import scale_factor
from ocr_tasks.training import detection as det_train
from ocr_tasks.training.bundle import write_bundle
from ocr_tasks.training.charset import extend_recognizer, extended_charset
from ocr_tasks.training.data import TextCrop, TrainPage, load_page, text_crops, visual_lines
from ocr_tasks.training.recognition import (
    CropPool,
    build_pool,
    class_map,
    ctc_batch,
    ctc_loss,
    distill_loss,
)
from ocr_tasks.training.validation import (
    HOLD_TOLERANCE,
    falls_behind,
    production_runtime,
    validate,
    worse,
)

PARTS = ("rec", "det")
STATE_FILE = "training.json"
PROGRESS_EVERY = 10  # steps between progress lines


def parse_parts(text: str) -> tuple[str, ...]:
    """``"rec,det"`` -> ``("rec", "det")``; unknown names are refused when training starts."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run's result (a work folder belongs to one config). Build it
    with ``defaults``: ``TrainingSettings`` owns the default of every field."""

    stages: int
    steps_per_stage: int
    rec_batch: int
    det_batch: int
    det_size: int
    det_every: int
    rec_lr: float
    det_lr: float
    warmup_steps: int
    max_crop_width: int
    clip_norm: float
    seed: int
    parts: tuple[str, ...]
    line_share: float | None
    rec_size: str = "small"
    distill: float = 0.0
    freeze_backbone: bool = False
    device: str = "cpu"
    threads: int = 2

    @classmethod
    def defaults(cls, device: str = "cpu", settings: TrainingSettings | None = None,
                 **overrides: Any) -> TrainConfig:
        """The settings' defaults for ``device`` (CUDA: larger batches) and for the
        recognizer size (``TrainingSettings.recipe``), then the overrides that are not None."""
        s = settings or TrainingSettings()
        cuda = device.startswith("cuda")
        recipe = s.recipe(overrides.get("rec_size") or s.rec_size)
        base = cls(
            stages=int(recipe["stages"]), steps_per_stage=int(recipe["steps_per_stage"]),
            rec_batch=s.rec_batch_gpu if cuda else s.rec_batch,
            det_batch=s.det_batch_gpu if cuda else s.det_batch,
            det_size=s.det_size, det_every=s.det_every, rec_lr=float(recipe["rec_lr"]),
            det_lr=s.det_lr,
            warmup_steps=s.warmup_steps, max_crop_width=s.max_crop_width,
            clip_norm=s.clip_norm, seed=s.seed, parts=parse_parts(s.parts),
            line_share=s.line_share, rec_size=s.rec_size, distill=s.distill,
            device=device,
        )
        fields = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{**asdict(base), **fields})

    @property
    def amp(self) -> bool:
        """Mixed precision: on CUDA only."""
        return self.device.startswith("cuda")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "parts": list(self.parts), "amp": self.amp}


@dataclass
class StageResult:
    """One stage's figures: validation metrics, whether it was promoted, and its training."""

    stage: int
    step: int
    metrics: dict[str, Any]
    promoted: bool
    worse_than_start: list[str] = field(default_factory=list)
    train_loss: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    bundle: Path
    stages: list[StageResult]
    best: int
    skipped: dict[str, int]
    charset_added: list[str]
    # a smaller recognizer: the bundled model's figures, whether the bundle holds them
    against_bundled: dict[str, Any] = field(default_factory=dict)


def resolve_device(choice: str) -> str:
    """'auto' is CUDA when a GPU is present, else the CPU."""
    if choice != "auto":
        return choice
    return "cuda" if torch.cuda.is_available() else "cpu"


def stage_seed(seed: int, stage: int) -> int:
    digest = hashlib.sha256(f"ocr-train/{seed}/{stage}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _seed_all(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def _restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


# --------------------------------------------------------------------------- material


@dataclass
class Material:
    """What the stages train and validate on, loaded once."""

    crops: CropPool
    det_pages: list[det_train.DetPage]
    val: list[TrainPage]
    charset: list[str]
    added: list[str]


def _det_page(page: TrainPage) -> det_train.DetPage | None:
    """The page at the scale the engine detects at, with line and don't-care polygons."""
    import cv2

    source = page.page
    engine = EngineSettings()
    scale = scale_factor(source.width, source.height, source.dpi,
                         upscale_below_dpi=engine.upscale_below_dpi, max_side=engine.max_side)
    truth = page.truth.scaled(scale)
    lines = tuple(det_train.box_polygon(box) for _, box in visual_lines(truth))
    if not lines:
        return None
    image = source.image if scale == 1.0 else cv2.resize(
        source.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    ignored = tuple(det_train.box_polygon(w.box) for w in truth.dontcare_words)
    return det_train.DetPage(image, lines, ignored)


def prepare(dataset: Dataset, config: TrainConfig, log: Callable[[str], None]) -> Material:
    """Load the train and val pages (never test), cut crops, extend the charset."""
    train = [p for p in dataset.pages if p.split == "train"]
    val = [p for p in dataset.pages if p.split == "val" and p.kind == "page"
           and p.truth.counted_words]
    if not train:
        raise TrainingError("no training pages: the dataset's train split is empty")
    if not val:
        raise TrainingError("no validation pages with boxed words: the val split is empty "
                            "(give --fractions a val share, e.g. 0.8,0.2,0)")
    crops: list[TextCrop] = []
    det_pages: list[det_train.DetPage] = []
    for labelled in train:
        page = load_page(labelled)
        if labelled.kind == "crop":
            crops.append(TextCrop(page.page.image, labelled.truth.text.strip()))
            continue
        crops.extend(text_crops(page))
        found = _det_page(page)
        if found is not None:
            det_pages.append(found)
    base = models.charset(models.DEFAULT_CHARSET, config.rec_size)
    charset = extended_charset(base, (c.text for c in crops))
    pool = build_pool(crops, charset, config.max_crop_width)
    log(f"train: {len(train)} pages, {len(pool)} crops ({pool.too_long} labels longer than "
        f"the time steps and {pool.too_wide} crops wider than {config.max_crop_width} px "
        f"skipped), {len(det_pages)} detector pages; val: {len(val)} pages; charset "
        f"{len(base)} + {len(charset) - len(base)} new")
    if "rec" in config.parts and not len(pool):
        raise TrainingError("no usable recognizer crops in the train split")
    if "det" in config.parts and not det_pages:
        raise TrainingError("no pages with boxed lines for the detector in the train split")
    return Material(pool, det_pages, [load_page(p) for p in val], charset,
                    charset[len(base) - 1 : -1])


# --------------------------------------------------------------------------- the trainer


class Trainer:
    """The modules, their optimizer and the stage loop for one work folder."""

    def __init__(self, material: Material, config: TrainConfig, work: Path,
                 log: Callable[[str], None]) -> None:
        self.m, self.config, self.work, self.log = material, config, work, log
        self.device = torch.device(config.device)
        if self.device.type == "cpu":
            torch.set_num_threads(config.threads)
        size = config.rec_size
        rec = models.load_recognizer(self.device, size=size)
        assert isinstance(rec, TextRecognizer)
        extend_recognizer(rec, models.charset(models.DEFAULT_CHARSET, size), material.charset)
        det = models.load_detector(self.device)
        assert isinstance(det, TextDetector)
        self.rec, self.det = rec, det
        self.teacher: nn.Module | None = None
        if "rec" in config.parts and config.distill > 0 and size != models.DEFAULT_REC_SIZE:
            # the bundled recognizer teaches the smaller one, frame by frame
            self.teacher = models.load_recognizer(self.device).requires_grad_(False)
            self.classes = class_map(material.charset, models.charset(models.DEFAULT_CHARSET))
        self.thresh = det_train.ThresholdHead(det.head).to(self.device)
        self.cls = models.load_direction_classifier(self.device)
        groups = []
        if "rec" in config.parts:
            trained = [rec.neck, rec.head] if config.freeze_backbone else [rec]
            if config.freeze_backbone:
                rec.backbone.requires_grad_(False)
            groups.append({"params": [p for m in trained for p in m.parameters()],
                           "lr": config.rec_lr})
        if "det" in config.parts:
            groups.append({"params": [*det.parameters(), *self.thresh.parameters()],
                           "lr": config.det_lr})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.amp_dtype = (torch.bfloat16 if config.amp and torch.cuda.is_bf16_supported()
                          else torch.float16)
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=config.amp and self.amp_dtype == torch.float16)
        self.step = 0
        self.results: list[StageResult] = []
        for module in (self.rec, self.det, self.thresh, self.cls, self.teacher):
            if module is not None:
                module.eval()  # BatchNorm statistics stay the pretrained ones (small batches)

    # --- checkpoints ---------------------------------------------------------------------

    def _path(self, stage: int) -> Path:
        return self.work / f"stage-{stage}.pt"

    def save(self, stage: int) -> None:
        state = {
            "stage": stage, "step": self.step, "rec": self.rec.state_dict(),
            "det": self.det.state_dict(), "thresh": self.thresh.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": _rng_state(), "results": [r.to_dict() for r in self.results],
            "charset": self.m.charset,
        }
        tmp = self._path(stage).with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self._path(stage))

    def load(self, stage: int) -> None:
        state = torch.load(self._path(stage), map_location=self.device, weights_only=False)
        if state["charset"] != self.m.charset:
            raise TrainingError(f"{self._path(stage)} was trained with another charset; "
                                "use a new work folder for other data")
        self.rec.load_state_dict(state["rec"])
        self.det.load_state_dict(state["det"])
        self.thresh.load_state_dict(state["thresh"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        _restore_rng(state["rng"])
        self.step = int(state["step"])
        self.results = [StageResult(**r) for r in state["results"]]

    def finished(self) -> int:
        """The last stage with a checkpoint (-1: none)."""
        done = [k for k in range(self.config.stages + 1) if self._path(k).is_file()]
        return max(done, default=-1)

    # --- stages --------------------------------------------------------------------------

    def modules(self) -> dict[str, nn.Module]:
        return {"det": self.det, "rec": self.rec, "cls": self.cls}

    def validate(self, stage: int) -> dict[str, Any]:
        version = f"{models.pretrained_version(self.config.rec_size)}+stage{stage}"
        return self._validate(self.modules(), self.m.charset, version)

    def validate_bundled(self) -> dict[str, dict[str, Any]]:
        """The bundled networks' and the current ones' figures on the same pages, both run
        as this host's workers would run them (OpenVINO bf16 where that is the default):
        what a smaller recognizer must hold to be used in the bundled one's place."""
        bundled = {"det": models.load_detector(self.device),
                   "rec": models.load_recognizer(self.device), "cls": self.cls}
        runtime = production_runtime(self.config.device)
        return {"bundled": self._validate(bundled, models.charset(), "bundled", runtime),
                "trained": self._validate(self.modules(), self.m.charset, "trained", runtime)}

    def _validate(self, modules: dict[str, nn.Module], charset: Sequence[str], version: str,
                  runtime: str = "onnx") -> dict[str, Any]:
        """``validation.validate`` on the val pages; on CPU through an ONNX export in a
        scratch folder of the work folder."""
        cpu = self.device.type == "cpu"
        with tempfile.TemporaryDirectory(prefix="validate-", dir=self.work) as tmp:
            return validate(modules, charset, self.m.val, version=version,
                            device=self.config.device, threads=self.config.threads,
                            onnx_dir=Path(tmp) if cpu else None, runtime=runtime)

    def run_stage(self, stage: int) -> StageResult:
        start = time.perf_counter()
        rng = _seed_all(stage_seed(self.config.seed, stage))
        losses: dict[str, list[float]] = {"rec": [], "distill": [], "det": []}
        for i in range(self.config.steps_per_stage):
            for name, value in self._train_step(rng).items():
                losses[name].append(value)
            if (i + 1) % PROGRESS_EVERY == 0:
                recent = {k: round(float(np.mean(v[-PROGRESS_EVERY:])), 4)
                          for k, v in losses.items() if v}
                self.log(f"stage {stage} step {self.step}: loss {recent}, "
                         f"{time.perf_counter() - start:.0f} s")
        metrics = self.validate(stage)
        start_metrics = self.results[0].metrics
        bad = worse(metrics, start_metrics)
        result = StageResult(
            stage, self.step, metrics, promoted=not bad, worse_than_start=bad,
            train_loss={k: round(float(np.mean(v)), 4) for k, v in losses.items() if v},
            seconds=round(time.perf_counter() - start, 1))
        return result

    def _lr_scale(self) -> float:
        """Linear warm-up, then a cosine decay to a tenth over all the stages' steps."""
        c = self.config
        total = max(1, c.stages * c.steps_per_stage)
        warm = min(1.0, (self.step + 1) / max(1, c.warmup_steps))
        return warm * (0.1 + 0.45 * (1 + math.cos(math.pi * min(self.step, total) / total)))

    def _train_step(self, rng: np.random.Generator) -> dict[str, float]:
        c = self.config
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * self._lr_scale()
        losses: dict[str, torch.Tensor] = {}
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=c.amp):
            if "rec" in c.parts:
                picks = self._crop_picks(rng)
                batch = [t.to(self.device) for t in ctc_batch(self.m.crops, picks)]
                logits = self.rec.logits(batch[0])
                losses["rec"] = ctc_loss(logits, *batch[1:])
                if self.teacher is not None:
                    with torch.no_grad():
                        taught = self.teacher(batch[0])
                    losses["distill"] = c.distill * distill_loss(
                        logits, taught, self.classes, batch[2])
            if "det" in c.parts and self.step % max(1, c.det_every) == 0:
                losses["det"] = self._det_loss(rng)
        for name, loss in losses.items():
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the {name} loss is {loss.item()} at step {self.step + 1}: training "
                    f"stopped; lower the learning rate or check the labels (finished stages "
                    f"are kept in {self.work})")
        total = sum(losses.values(), torch.zeros((), device=self.device))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if c.clip_norm > 0:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, c.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return {name: float(loss.item()) for name, loss in losses.items()}

    def _crop_picks(self, rng: np.random.Generator) -> list[int]:
        """A batch drawn from all crops alike (``line_share`` None), or with that share of
        line crops (``TrainingSettings.line_share`` says what was measured)."""
        pool, c = self.m.crops, self.config
        if c.line_share is None:
            drawn = rng.choice(len(pool), size=min(c.rec_batch, len(pool)), replace=False)
            return [int(i) for i in drawn]
        lines = [i for i, crop in enumerate(pool.crops) if crop.line]
        words = [i for i, crop in enumerate(pool.crops) if not crop.line]
        share = c.line_share if words else 1.0
        n_lines = min(len(lines), round(c.rec_batch * share))
        n_words = min(len(words), c.rec_batch - n_lines)
        picks = [*rng.choice(lines, n_lines, replace=False).tolist(),
                 *rng.choice(words, n_words, replace=False).tolist()]
        return [int(i) for i in picks]

    def _det_loss(self, rng: np.random.Generator) -> torch.Tensor:
        c = self.config
        picks = rng.integers(0, len(self.m.det_pages), size=c.det_batch)
        samples = [det_train.det_sample(self.m.det_pages[i], c.det_size, rng) for i in picks]
        x = torch.from_numpy(np.stack([s[0] for s in samples])).to(self.device)
        targets = {
            key: torch.from_numpy(np.stack([getattr(s[1], key) for s in samples])).to(self.device)
            for key in ("shrink", "shrink_mask", "thresh", "thresh_mask")
        }
        logits, thresh = det_train.det_maps(self.det, self.thresh, x)
        return det_train.db_loss(logits, thresh, targets)

    # --- the whole run -------------------------------------------------------------------

    def run(self, on_stage: Callable[[StageResult], None] | None = None) -> list[StageResult]:
        last = self.finished()
        if last >= 0:
            self.load(last)
            self.log(f"resuming after stage {last} (step {self.step}) from {self.work}")
        else:
            self.log("stage 0: validating the pretrained start")
            started = time.perf_counter()
            metrics = self.validate(0)
            self.results = [StageResult(0, 0, metrics, promoted=True,
                                        seconds=round(time.perf_counter() - started, 1))]
            self.save(0)
            self._report(self.results[0], on_stage)
        for stage in range(last + 1 if last >= 0 else 1, self.config.stages + 1):
            self.log(f"stage {stage}: {self.config.steps_per_stage} steps from step {self.step}")
            result = self.run_stage(stage)
            self.results.append(result)
            self.save(stage)
            self._report(result, on_stage)
        return self.results

    def _report(self, result: StageResult, on_stage: Callable[[StageResult], None] | None
                ) -> None:
        m = result.metrics
        verdict = ("start" if result.stage == 0 else "promoted" if result.promoted
                   else "NOT promoted: worse than the start in " + ", ".join(
                       result.worse_than_start))
        self.log(f"stage {result.stage}: crop CER {m['crop_cer']}, e2e CER {m['e2e_cer']}, "
                 f"H-mean {m['hmean']}, AP50 {m['ap50']} ({verdict})")
        if on_stage is not None:
            on_stage(result)


def best_stage(results: Sequence[StageResult]) -> int:
    """The promoted stage (or the start) with the lowest end-to-end CER, then crop CER."""
    candidates = [r for r in results if r.promoted]

    def key(r: StageResult) -> tuple[float, float, int]:
        return (r.metrics["e2e_cer"], r.metrics["crop_cer"], r.stage)

    return min(candidates, key=key).stage


def _config_key(config: TrainConfig, pages: Sequence[LabelledPage]) -> str:
    material = {k: v for k, v in config.to_dict().items() if k != "threads"}
    ids = sorted(f"{p.page_id}:{p.split}" for p in pages if p.split in ("train", "val"))
    blob = json.dumps({"config": material, "pages": ids}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train(dataset: Dataset, work: str | Path, config: TrainConfig, *, name: str = "finetuned",
          on_stage: Callable[[StageResult], None] | None = None,
          log: Callable[[str], None] = lambda _: None) -> TrainResult:
    """Run (or resume) the stages in ``work`` and write ``work/bundle`` from the best stage."""
    unknown = set(config.parts) - set(PARTS)
    if unknown or not config.parts:
        raise TrainingError(f"parts are some of {list(PARTS)}, not {list(config.parts)}")
    folder = Path(work)
    folder.mkdir(parents=True, exist_ok=True)
    key = _config_key(config, dataset.pages)
    state_path = folder / STATE_FILE
    if state_path.is_file():
        recorded = json.loads(state_path.read_text())
        if recorded.get("key") != key:
            raise TrainingError(f"{folder} holds a run with another configuration or data; "
                                "give a new --work folder (or remove this one)")
    else:
        state_path.write_text(json.dumps({"key": key, "config": config.to_dict()}, indent=1))
    material = prepare(dataset, config, log)
    trainer = Trainer(material, config, folder, log)
    results = trainer.run(on_stage)
    best = best_stage(results)
    if best != results[-1].stage:
        trainer.load(best)
    skipped = {"labels_longer_than_time_steps": material.crops.too_long,
               "crops_too_wide": material.crops.too_wide}
    against: dict[str, Any] = {}
    if config.rec_size != models.DEFAULT_REC_SIZE:
        judged = trainer.validate_bundled()
        reference, mine = judged["bundled"], judged["trained"]
        lost = falls_behind(mine, reference)
        against = {"reference": {"model": models.MODEL_VERSION, "metrics": reference},
                   "judged": {"stage": best, "metrics": mine},
                   "holds_accuracy": not lost, "falls_behind_in": lost}
        log(f"on {reference['backend']}, as workers run them: the bundled model e2e CER "
            f"{reference['e2e_cer']}, H-mean {reference['hmean']}; stage {best} e2e CER "
            f"{mine['e2e_cer']}, H-mean {mine['hmean']}: "
            + ("holds its accuracy" if not lost else f"falls behind in {', '.join(lost)}")
            + f" (tolerance {HOLD_TOLERANCE})")
    card = build_card(dataset, name).to_dict()
    bundle = write_bundle(
        folder / "bundle", rec=trainer.rec, det=trainer.det, charset=material.charset,
        meta={"name": name, "model_name": models.MODEL_NAME,
              "parent": models.pretrained_version(config.rec_size),
              "rec_size": config.rec_size,
              "promoted_stage": best, "stages": [r.to_dict() for r in results],
              "config": config.to_dict(), "skipped": skipped,
              "charset_added": material.added, "dataset": card, **against})
    log(f"best stage {best}; bundle in {bundle}")
    return TrainResult(bundle, results, best, skipped, material.added, against)
