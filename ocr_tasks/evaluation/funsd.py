"""Evaluate an OCR engine on a FUNSD-format folder.

Pages are streamed: one image is decoded, sent to the engine, scored and dropped before the
next, so memory does not grow with the dataset. The metric definitions live in
``ocr_tasks.evaluation.metrics``; this module only reads the dataset, calls the engine and times it.

Speed is the engine's time only (image decoding and scoring excluded): wall clock, and CPU of
this process plus any finished child processes (so subprocess engines such as Tesseract are
charged too). ``recognize_pages`` is timed separately from the crop recognition run for CER.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image

from ocr_tasks.core.errors import CorruptInput, InputError
from ocr_tasks.document import Box, Page
from ocr_tasks.evaluation.metrics import (
    BagOfWordsF1,
    CropCER,
    DetectionMetric,
    EndToEndCER,
    precision_recall_hmean,
)
from ocr_tasks.page_image import PageImage
from ocr_tasks.truth import TruthPage, TruthWord, funsd_folder, parse_funsd


class Engine(Protocol):
    """What evaluation needs from an engine (ours, or the Tesseract adapter)."""

    model_name: str
    model_version: str

    def recognize_pages(self, pages: Sequence[PageImage]) -> list[Page]: ...

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]: ...


class ScoredTruth:
    """What scoring reads of a page's truth: counted and don't-care words, reference text.
    Shared by pages read from disk (:class:`EvalSample`) and pages held in memory."""

    truth: TruthPage

    @property
    def counted_words(self) -> tuple[TruthWord, ...]:
        return self.truth.counted_words

    @property
    def dontcare_words(self) -> tuple[TruthWord, ...]:
        return self.truth.dontcare_words

    @property
    def text(self) -> str:
        """Reference text for bag-of-words: the counted words, space-separated (so both
        sides are tokenized alike; see ``evaluate_funsd``)."""
        return " ".join(w.text for w in self.counted_words)


@dataclass(frozen=True)
class EvalSample(ScoredTruth):
    """One page to score: its id, its image (left on disk until :meth:`load_image`) and its
    truth. Empty words are don't-care (``TruthWord.dontcare``)."""

    page_id: str
    image_path: Path
    truth: TruthPage

    def load_image(self) -> PageImage:
        """BGR pixels, with the file's stated dpi when it has one."""
        image = cv2.imread(str(self.image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise CorruptInput(f"cannot decode image {self.image_path}")
        dpi: float | None = None
        try:
            with Image.open(self.image_path) as im:
                stated = im.info.get("dpi")
            if stated and float(stated[0]) > 1:
                dpi = float(stated[0])
        except (OSError, ValueError, TypeError):
            dpi = None
        return PageImage(image=image, index=0, dpi=dpi)


def load_funsd(data_dir: str | Path) -> Iterator[EvalSample]:
    """Pages of a FUNSD folder (``annotations/<id>.json`` + ``images/<id>.png``), sorted by id."""
    for ann_path, image_path in funsd_folder(data_dir):
        if image_path is None:
            raise InputError(f"no image for {ann_path.name} in {ann_path.parent.parent / 'images'}")
        try:
            (truth,) = parse_funsd(ann_path.read_bytes())
        except (CorruptInput, ValueError) as e:  # ValueError: several pages in one file
            raise CorruptInput(f"cannot read FUNSD annotation {ann_path}: {e}") from e
        yield EvalSample(page_id=ann_path.stem, image_path=image_path, truth=truth)


def crop_box(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of ``box`` exactly (no padding), clipped to the image; may be empty."""
    h, w = image.shape[:2]
    x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x1, y1 = min(w, int(math.ceil(box[2]))), min(h, int(math.ceil(box[3])))
    return np.ascontiguousarray(image[y0:max(y0, y1), x0:max(x0, x1)])


def _cpu_seconds() -> float:
    """CPU of this process (all threads) plus its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def predicted_words(page: Page) -> tuple[list[Box], list[str], list[float], int]:
    """Word boxes/texts/confidences; a line without words counts as one word (and is counted
    so that an engine that stops emitting words is visible in the report)."""
    boxes: list[Box] = []
    texts: list[str] = []
    confs: list[float] = []
    lines_without_words = 0
    for line in page.lines:
        if line.words:
            for w in line.words:
                boxes.append(w.box)
                texts.append(w.text)
                confs.append(float(w.confidence))
        elif line.text.strip():
            lines_without_words += 1
            boxes.append(line.box)
            texts.append(line.text)
            confs.append(float(line.confidence))
    return boxes, texts, confs, lines_without_words


def engine_info(engine: Any) -> dict[str, Any]:
    """Name, version and settings of an engine, JSON-ready (settings may be pydantic,
    a dataclass or a mapping)."""
    settings = getattr(engine, "settings", None)
    if settings is not None and hasattr(settings, "model_dump"):
        settings = settings.model_dump(mode="json")
    elif is_dataclass(settings) and not isinstance(settings, type):
        settings = asdict(settings)
    elif isinstance(settings, Mapping):
        settings = dict(settings)
    else:
        settings = None
    backend = getattr(getattr(engine, "backend", None), "name", None)  # what "auto" resolved to
    return {
        "model_name": getattr(engine, "model_name", type(engine).__name__),
        "model_version": getattr(engine, "model_version", ""),
        "backend": backend if isinstance(backend, str) else None,
        "settings": settings,
    }


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(float(v), nd)


class Sample(Protocol):
    """One labelled page to score (``EvalSample``, or a page already in memory)."""

    @property
    def page_id(self) -> str: ...

    @property
    def counted_words(self) -> tuple[TruthWord, ...]: ...

    @property
    def dontcare_words(self) -> tuple[TruthWord, ...]: ...

    @property
    def text(self) -> str: ...

    def load_image(self) -> PageImage: ...


def evaluate_funsd(
    data_dir: str | Path,
    engine: Engine,
    *,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score ``engine`` on the first ``limit`` pages (sorted by id) of a FUNSD folder.

    Returns the summary (dataset, engine, detection, recognition, end_to_end, bag_of_words,
    speed) plus ``pages``: per-page figures, which callers usually write to a file only.
    """
    total = None
    if progress:
        total = len(list((Path(data_dir) / "annotations").glob("*.json")))
        total = min(total, limit) if limit is not None else total
    return evaluate_samples(load_funsd(data_dir), engine, limit=limit, total=total,
                            progress=progress, dataset={"format": "funsd", "path": str(data_dir)})


def evaluate_samples(
    samples: Iterable[Sample],
    engine: Engine,
    *,
    limit: int | None = None,
    progress: bool = False,
    total: int | None = None,
    dataset: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``engine`` on labelled pages (the first ``limit``); ``dataset`` describes them
    in the result. Same result as :func:`evaluate_funsd`."""
    detection, crop_cer, e2e_cer, bow = DetectionMetric(), CropCER(), EndToEndCER(), BagOfWordsF1()
    per_page: list[dict[str, Any]] = []
    n_words = n_dontcare = 0
    wall_pages = cpu_pages = wall_crops = cpu_crops = 0.0
    t_start = time.perf_counter()

    pages: Iterator[Sample] = iter(samples)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="page", file=sys.stderr)
    for n, gt in enumerate(pages):
        if limit is not None and n >= limit:
            break
        page_image = gt.load_image()
        counted, dontcare = gt.counted_words, gt.dontcare_words
        n_words += len(counted)
        n_dontcare += len(dontcare)

        w0, c0 = time.perf_counter(), _cpu_seconds()
        (result,) = engine.recognize_pages([page_image])
        w1, c1 = time.perf_counter(), _cpu_seconds()
        crops = [crop_box(page_image.image, w.box) for w in counted]
        crop_results = engine.recognize_crops(crops) if crops else []
        w2, c2 = time.perf_counter(), _cpu_seconds()
        del page_image, crops
        wall_pages += w1 - w0
        cpu_pages += c1 - c0
        wall_crops += w2 - w1
        cpu_crops += c2 - c1

        gt_boxes = [w.box for w in counted]
        gt_texts = [w.text for w in counted]
        pred_boxes, pred_texts, pred_confs, lines_without_words = predicted_words(result)
        m = detection.update(gt_boxes, [w.box for w in dontcare], pred_boxes, pred_confs)
        ce, cc = crop_cer.update(gt_texts, [text for text, _ in crop_results])
        ee, ec = e2e_cer.update(gt_boxes, gt_texts, pred_boxes, pred_texts)
        # Both sides tokenized alike: the reference is the dataset's word tokens joined by
        # spaces, so the prediction is ours (line text would keep "9/3/92" as one token
        # where FUNSD has three).
        f1 = bow.update(gt.text, " ".join(pred_texts))
        p_prec, p_rec, p_hmean = precision_recall_hmean(m.tp, m.fp, m.fn)
        per_page.append({
            "id": gt.page_id,
            "words": len(counted),
            "dontcare_words": len(dontcare),
            "pred_words": len(pred_boxes),
            "lines_without_words": lines_without_words,
            "tp": m.tp,
            "fp": m.fp,
            "fn": m.fn,
            "ignored": len(m.ignored_pred),
            "precision": _r(p_prec),
            "recall": _r(p_rec),
            "hmean": _r(p_hmean),
            "crop_edits": ce,
            "crop_chars": cc,
            "crop_cer": _r(ce / cc if cc else None),
            "e2e_edits": ee,
            "e2e_chars": ec,
            "e2e_cer": _r(ee / ec if ec else None),
            "bow_f1": _r(f1),
            "confidence": _r(result.confidence),
            "rotation": result.rotation,
            "wall_s": _r(w1 - w0, 3),
            "cpu_s": _r(c1 - c0, 3),
            "crop_wall_s": _r(w2 - w1, 3),
            "crop_cpu_s": _r(c2 - c1, 3),
        })
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    n_pages = len(per_page)
    det = detection.summary()
    rec = crop_cer.summary()
    e2e = e2e_cer.summary()

    def per(v: float) -> float | None:
        return round(v / n_pages, 3) if n_pages else None

    return {
        "dataset": {
            **(dataset or {}),
            "pages": n_pages,
            "words": n_words,
            "dontcare_words": n_dontcare,
        },
        "engine": engine_info(engine),
        "detection": {
            "precision": _r(det["precision"]),
            "recall": _r(det["recall"]),
            "hmean": _r(det["hmean"]),
            "ap50": _r(det["ap"]),
            "tp": det["tp"],
            "fp": det["fp"],
            "fn": det["fn"],
            "ignored": det["ignored"],
            "iou_threshold": det["iou_threshold"],
        },
        "recognition": _cer_block(rec),
        "end_to_end": _cer_block(e2e),
        "bag_of_words": {"f1": _r(bow.summary()["f1"])},
        "speed": {
            "wall_s_per_page": per(wall_pages),
            "cpu_s_per_page": per(cpu_pages),
            "crop_wall_s_per_page": per(wall_crops),
            "crop_cpu_s_per_page": per(cpu_crops),
            "total_wall_s": round(time.perf_counter() - t_start, 2),
        },
        "pages": per_page,
    }


def _cer_block(s: dict[str, Any]) -> dict[str, Any]:
    out = {
        "cer": _r(s["cer"]),
        "cer_ci95": [_r(v) for v in s["cer_ci95"]] if "cer_ci95" in s else None,
        "edits": s["edits"],
        "ref_chars": s["ref_chars"],
        "word_accuracy": _r(s["word_accuracy"]),
    }
    return out


def summary_only(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result without per-page figures (what goes to stdout)."""
    return {k: v for k, v in result.items() if k != "pages"}
