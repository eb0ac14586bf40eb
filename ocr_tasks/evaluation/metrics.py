"""OCR quality metrics, independent of any engine or dataset.

Plain functions compute one comparison; the metric objects (``DetectionMetric``, ``CropCER``,
``EndToEndCER``, ``BagOfWordsF1``) accumulate page after page with ``update()`` and report
totals with ``summary()``, so an evaluation can stream pages without keeping them.

Conventions:

* Boxes are axis-aligned ``(x0, y0, x1, y1)`` in pixels; degenerate boxes have zero area.
* Character error rate (CER) is micro-averaged: total Levenshtein edits over total reference
  characters, case-sensitive, no normalisation. It is undefined (``None``) without reference
  characters.
* Detection uses one-to-one greedy matching in descending IoU at IoU >= 0.5. Reference words
  with empty text are "don't care": they are never counted as missed, and an unmatched
  prediction whose area lies at least half inside one of them is ignored instead of being a
  false positive (the ICDAR 2015 convention).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

IOU_THRESHOLD = 0.5
DONTCARE_OVERLAP = 0.5
MIN_OVERLAP = 0.5  # line alignment: share of the smaller box two lines must overlap


# --------------------------------------------------------------------------- text


def cer_counts(reference: str, prediction: str) -> tuple[int, int]:
    """(Levenshtein edits, reference characters): the two sums a micro CER is made of."""
    return int(Levenshtein.distance(reference, prediction)), len(reference)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def bag_of_words_f1(ref_text: str, pred_text: str) -> float:
    """F1 of the multisets of whitespace tokens: a reading-order-free page score.

    Both sides empty is a perfect 1.0 (nothing to find, nothing invented); one side empty is 0.
    """
    ref = Counter(ref_text.split())
    pred = Counter(pred_text.split())
    n_ref, n_pred = sum(ref.values()), sum(pred.values())
    if n_ref == 0 and n_pred == 0:
        return 1.0
    common = sum((ref & pred).values())
    if common == 0:
        return 0.0
    precision, recall = common / n_pred, common / n_ref
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- geometry


def box_area(box: Sequence[float]) -> float:
    return max(0.0, float(box[2]) - float(box[0])) * max(0.0, float(box[3]) - float(box[1]))


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0]))
    h = min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1]))
    return w * h if w > 0 and h > 0 else 0.0


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two axis-aligned boxes (0 when either is degenerate)."""
    inter = intersection(a, b)
    if inter == 0.0:
        return 0.0
    return inter / (box_area(a) + box_area(b) - inter)


def iou_matrix(
    gt_boxes: Sequence[Sequence[float]], pred_boxes: Sequence[Sequence[float]]
) -> np.ndarray:
    """IoU of every (gt, pred) pair, shape (len(gt), len(pred)); vectorised for dense pages."""
    if len(gt_boxes) == 0 or len(pred_boxes) == 0:
        return np.zeros((len(gt_boxes), len(pred_boxes)), dtype=np.float64)
    g = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)[:, None, :]
    p = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)[None, :, :]
    w = np.clip(np.minimum(g[..., 2], p[..., 2]) - np.maximum(g[..., 0], p[..., 0]), 0, None)
    h = np.clip(np.minimum(g[..., 3], p[..., 3]) - np.maximum(g[..., 1], p[..., 1]), 0, None)
    inter = w * h
    area_g = np.clip(g[..., 2] - g[..., 0], 0, None) * np.clip(g[..., 3] - g[..., 1], 0, None)
    area_p = np.clip(p[..., 2] - p[..., 0], 0, None) * np.clip(p[..., 3] - p[..., 1], 0, None)
    union = area_g + area_p - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


def _inside_dontcare(
    pred_box: Sequence[float], dontcare_boxes: Sequence[Sequence[float]], min_overlap: float
) -> bool:
    """True when at least ``min_overlap`` of the prediction's area lies inside one box."""
    area = box_area(pred_box)
    if area == 0.0:
        return False
    return any(intersection(pred_box, d) / area >= min_overlap for d in dontcare_boxes)


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class DetectionMatch:
    """Outcome of matching one page's predictions to its reference words (indices)."""

    matches: tuple[tuple[int, int, float], ...]  # (gt index, pred index, IoU)
    unmatched_gt: tuple[int, ...]  # missed words (false negatives)
    unmatched_pred: tuple[int, ...]  # false positives
    ignored_pred: tuple[int, ...]  # unmatched but inside a don't-care word

    @property
    def tp(self) -> int:
        return len(self.matches)

    @property
    def fp(self) -> int:
        return len(self.unmatched_pred)

    @property
    def fn(self) -> int:
        return len(self.unmatched_gt)


def match_detections(
    gt_boxes: Sequence[Sequence[float]],
    gt_dontcare_boxes: Sequence[Sequence[float]],
    pred_boxes: Sequence[Sequence[float]],
    *,
    iou_threshold: float = IOU_THRESHOLD,
    dontcare_overlap: float = DONTCARE_OVERLAP,
) -> DetectionMatch:
    """One-to-one greedy matching in descending IoU (ties: lower gt, then pred index first).

    Predictions are matched to the counted words first, so a good box is a true positive even
    if it also touches a don't-care region; only the leftovers are tested against don't-care.
    """
    ious = iou_matrix(gt_boxes, pred_boxes)
    gi, pi = np.nonzero(ious >= iou_threshold)
    order = sorted(
        zip(gi.tolist(), pi.tolist(), strict=True),
        key=lambda gp: (-ious[gp[0], gp[1]], gp[0], gp[1]),
    )
    used_gt: set[int] = set()
    used_pred: set[int] = set()
    matches: list[tuple[int, int, float]] = []
    for g, p in order:
        if g in used_gt or p in used_pred:
            continue
        used_gt.add(g)
        used_pred.add(p)
        matches.append((g, p, float(ious[g, p])))
    unmatched_pred: list[int] = []
    ignored: list[int] = []
    for p in range(len(pred_boxes)):
        if p in used_pred:
            continue
        if _inside_dontcare(pred_boxes[p], gt_dontcare_boxes, dontcare_overlap):
            ignored.append(p)
        else:
            unmatched_pred.append(p)
    return DetectionMatch(
        matches=tuple(sorted(matches)),
        unmatched_gt=tuple(g for g in range(len(gt_boxes)) if g not in used_gt),
        unmatched_pred=tuple(unmatched_pred),
        ignored_pred=tuple(ignored),
    )


def label_by_confidence(
    gt_boxes: Sequence[Sequence[float]],
    gt_dontcare_boxes: Sequence[Sequence[float]],
    pred_boxes: Sequence[Sequence[float]],
    scores: Sequence[float],
    *,
    iou_threshold: float = IOU_THRESHOLD,
    dontcare_overlap: float = DONTCARE_OVERLAP,
) -> list[bool | None]:
    """TP/FP label of each prediction for average precision (COCO/VOC procedure).

    Predictions are visited in descending confidence; each takes the still-free counted word
    with the highest IoU >= threshold (True), else is ignored (None) when inside a don't-care
    word, else is a false positive (False). This is the standard AP matching, so its final
    recall can differ slightly from :func:`match_detections`, which ignores confidence.
    """
    ious = iou_matrix(gt_boxes, pred_boxes)
    labels: list[bool | None] = [False] * len(pred_boxes)
    free = np.ones(len(gt_boxes), dtype=bool)
    for p in sorted(range(len(pred_boxes)), key=lambda i: (-float(scores[i]), i)):
        if len(gt_boxes):
            cand = np.where(free, ious[:, p], -1.0)
            g = int(np.argmax(cand))
            if cand[g] >= iou_threshold:
                free[g] = False
                labels[p] = True
                continue
        if _inside_dontcare(pred_boxes[p], gt_dontcare_boxes, dontcare_overlap):
            labels[p] = None
    return labels


def average_precision(scores: Sequence[float], is_tp: Sequence[bool], num_gt: int) -> float:
    """Area under the interpolated precision-recall curve (all points, PASCAL VOC 2010+).

    ``scores``/``is_tp`` describe every counted prediction (over all pages); ties in score
    keep the given order (stable sort). Precision is made monotone (running max from the
    right) before integrating over the recall steps. 0.0 when there is nothing to find.
    """
    if len(scores) != len(is_tp):
        raise ValueError("scores and is_tp must have the same length")
    if num_gt <= 0 or len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    tp = np.asarray(is_tp, dtype=np.float64)[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / num_gt
    precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def precision_recall_hmean(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, H-mean. No words to find gives recall 1; no predictions gives
    precision 0 unless there was nothing to find either (then 1)."""
    recall = tp / (tp + fn) if tp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else (1.0 if tp + fn == 0 else 0.0)
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, hmean


class DetectionMetric:
    """Word detection precision/recall/H-mean (totals over pages) and AP at one IoU."""

    def __init__(
        self, iou_threshold: float = IOU_THRESHOLD, dontcare_overlap: float = DONTCARE_OVERLAP
    ) -> None:
        self.iou_threshold = iou_threshold
        self.dontcare_overlap = dontcare_overlap
        self.reset()

    def reset(self) -> None:
        self.tp = self.fp = self.fn = self.ignored = 0
        self._scores: list[float] = []
        self._labels: list[bool] = []

    def update(
        self,
        gt_boxes: Sequence[Sequence[float]],
        gt_dontcare_boxes: Sequence[Sequence[float]],
        pred_boxes: Sequence[Sequence[float]],
        scores: Sequence[float] | None = None,
    ) -> DetectionMatch:
        """Add one page; returns its match so callers can report per-page figures."""
        m = match_detections(
            gt_boxes,
            gt_dontcare_boxes,
            pred_boxes,
            iou_threshold=self.iou_threshold,
            dontcare_overlap=self.dontcare_overlap,
        )
        self.tp += m.tp
        self.fp += m.fp
        self.fn += m.fn
        self.ignored += len(m.ignored_pred)
        if scores is None:
            scores = [1.0] * len(pred_boxes)
        labels = label_by_confidence(
            gt_boxes,
            gt_dontcare_boxes,
            pred_boxes,
            scores,
            iou_threshold=self.iou_threshold,
            dontcare_overlap=self.dontcare_overlap,
        )
        for s, lab in zip(scores, labels, strict=True):
            if lab is not None:
                self._scores.append(float(s))
                self._labels.append(lab)
        return m

    def summary(self) -> dict[str, Any]:
        precision, recall, hmean = precision_recall_hmean(self.tp, self.fp, self.fn)
        return {
            "precision": precision,
            "recall": recall,
            "hmean": hmean,
            "ap": average_precision(self._scores, self._labels, self.tp + self.fn),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "ignored": self.ignored,
            "iou_threshold": self.iou_threshold,
        }


# --------------------------------------------------------------------------- CER metrics


def micro_cer_interval(
    edits: Sequence[int],
    ref_chars: Sequence[int],
    confidence: float = 0.95,
    *,
    method: Literal["bootstrap", "normal"] = "bootstrap",
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Micro CER with a confidence interval over samples (e.g. pages), as (cer, low, high).

    Errors cluster within a page, so the sample (page, line) is the resampling unit, never the
    character. ``bootstrap`` (default): percentile bootstrap of sum(edits)/sum(chars) with a
    fixed seed, so repeated runs give the same interval. ``normal``: ratio-estimator (delta
    method) normal approximation, se = sqrt(sum((e_i - cer*c_i)^2) / (n(n-1))) / mean(c),
    low clipped at 0. Both are rough below ~10 samples. NaNs when there are no reference chars.
    """
    if len(edits) != len(ref_chars):
        raise ValueError("edits and ref_chars must have the same length")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie in (0, 1)")
    e = np.asarray(edits, dtype=np.float64)
    c = np.asarray(ref_chars, dtype=np.float64)
    total = c.sum()
    if len(e) == 0 or total <= 0:
        return (math.nan, math.nan, math.nan)
    cer = float(e.sum() / total)
    n = len(e)
    if n == 1:
        return (cer, cer, cer)
    if method == "normal":
        z = _normal_quantile(0.5 + confidence / 2)
        se = math.sqrt(float(np.sum((e - cer * c) ** 2)) / (n * (n - 1))) / (total / n)
        return (cer, float(max(0.0, cer - z * se)), float(cer + z * se))
    if method != "bootstrap":
        raise ValueError(f"unknown method {method!r}")
    rng = np.random.default_rng(seed)
    stats: list[np.ndarray] = []
    chunk = max(1, 2_000_000 // n)  # bound memory at ~16 MB of indices
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        se_, sc_ = e[idx].sum(axis=1), c[idx].sum(axis=1)
        stats.append(se_[sc_ > 0] / sc_[sc_ > 0])
        done += b
    boot = np.concatenate(stats)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return (cer, float(low), float(high))


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if p > 1 - lo:
        return -_normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


@dataclass
class _CerAccumulator:
    """Shared bookkeeping: totals plus per-sample (e.g. per-page) sums for the interval."""

    edits: int = 0
    chars: int = 0
    items: int = 0
    exact: int = 0
    sample_edits: list[int] = field(default_factory=list)
    sample_chars: list[int] = field(default_factory=list)

    def add_sample(self, edits: int, chars: int) -> None:
        self.edits += edits
        self.chars += chars
        self.sample_edits.append(edits)
        self.sample_chars.append(chars)

    def summary(self, confidence: float = 0.95) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cer": _ratio(self.edits, self.chars),
            "edits": self.edits,
            "ref_chars": self.chars,
            "words": self.items,
            "word_accuracy": _ratio(self.exact, self.items),
        }
        if len(self.sample_chars) > 1 and self.chars:
            _, low, high = micro_cer_interval(self.sample_edits, self.sample_chars, confidence)
            out["cer_ci95" if confidence == 0.95 else "cer_ci"] = [low, high]
        return out


class CropCER:
    """Recognition CER on reference crops: each ``update`` call is one sample (page)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._acc = _CerAccumulator()

    def update(self, references: Sequence[str], predictions: Sequence[str]) -> tuple[int, int]:
        """Add one page's crop transcriptions; returns that page's (edits, ref chars)."""
        if len(references) != len(predictions):
            raise ValueError("references and predictions must have the same length")
        edits = chars = 0
        for ref, pred in zip(references, predictions, strict=True):
            e, c = cer_counts(ref, pred)
            edits += e
            chars += c
            self._acc.exact += int(ref == pred)
        self._acc.items += len(references)
        self._acc.add_sample(edits, chars)
        return edits, chars

    def summary(self) -> dict[str, Any]:
        return self._acc.summary()


class EndToEndCER:
    """Word CER of the full pipeline: detection and recognition errors both cost edits.

    Each counted reference word takes the predicted word with the highest IoU (not one-to-one,
    so a merged prediction can serve two words); below the IoU threshold it costs all its
    characters. Unmatched predictions cost nothing here: they show up in detection precision.
    """

    def __init__(self, iou_threshold: float = IOU_THRESHOLD) -> None:
        self.iou_threshold = iou_threshold
        self.reset()

    def reset(self) -> None:
        self._acc = _CerAccumulator()

    def update(
        self,
        gt_boxes: Sequence[Sequence[float]],
        gt_texts: Sequence[str],
        pred_boxes: Sequence[Sequence[float]],
        pred_texts: Sequence[str],
    ) -> tuple[int, int]:
        """Add one page (don't-care words already removed); returns its (edits, ref chars)."""
        if len(gt_boxes) != len(gt_texts) or len(pred_boxes) != len(pred_texts):
            raise ValueError("boxes and texts must have the same length")
        ious = iou_matrix(gt_boxes, pred_boxes)
        edits = chars = 0
        for g, ref in enumerate(gt_texts):
            pred = ""
            if len(pred_boxes):
                p = int(np.argmax(ious[g]))
                if ious[g, p] >= self.iou_threshold:
                    pred = pred_texts[p]
            e, c = cer_counts(ref, pred)
            edits += e
            chars += c
            self._acc.exact += int(ref == pred)
        self._acc.items += len(gt_texts)
        self._acc.add_sample(edits, chars)
        return edits, chars

    def summary(self) -> dict[str, Any]:
        return self._acc.summary()


class BagOfWordsF1:
    """Mean over pages of the bag-of-words F1 (each page weighs the same)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._scores: list[float] = []

    def update(self, ref_text: str, pred_text: str) -> float:
        score = bag_of_words_f1(ref_text, pred_text)
        self._scores.append(score)
        return score

    def summary(self) -> dict[str, Any]:
        n = len(self._scores)
        return {"f1": sum(self._scores) / n if n else None, "pages": n}


# --------------------------------------------------------------------------- line alignment


def _text_box(line: Any) -> tuple[str, Sequence[float] | None]:
    if isinstance(line, tuple):
        return str(line[0]), line[1]
    return str(line.text), getattr(line, "box", None)


def assign_by_boxes(
    gt_boxes: Sequence[Sequence[float]],
    pred_boxes: Sequence[Sequence[float] | None],
    *,
    min_overlap: float = MIN_OVERLAP,
) -> list[int]:
    """For each prediction, the reference index it overlaps most, or -1.

    A prediction lands on a reference only when their intersection covers at least
    ``min_overlap`` of the smaller of the two boxes, so a detector that splits a line in
    pieces still lands every piece, and one that merges two lines lands on the larger share.
    A prediction without a box (None) lands nowhere. The one owner of this rule: line
    alignment here and page scoring in ``quality.scoring`` both call it.
    """
    out = [-1] * len(pred_boxes)
    boxed = [p for p, box in enumerate(pred_boxes) if box is not None]
    if not boxed or not len(gt_boxes):
        return out
    # all pairs at once (a page has thousands: the loop over pairs cost ~0.1 s per page)
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    pred = np.asarray([pred_boxes[p] for p in boxed], dtype=np.float64).reshape(-1, 4)
    w = np.minimum(pred[:, None, 2], gt[None, :, 2]) - np.maximum(pred[:, None, 0], gt[None, :, 0])
    h = np.minimum(pred[:, None, 3], gt[None, :, 3]) - np.maximum(pred[:, None, 1], gt[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)

    def areas(b: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, b[:, 2] - b[:, 0]) * np.maximum(0.0, b[:, 3] - b[:, 1])

    smaller = np.minimum(areas(pred)[:, None], areas(gt)[None, :])
    share = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    valid = (inter > 0) & (smaller > 0) & (share >= min_overlap)
    scored = np.where(valid, inter, -1.0)
    best = scored.argmax(axis=1)  # the first of equal overlaps, as a strict '>' scan keeps
    for row, p in enumerate(boxed):
        if valid[row, best[row]]:
            out[p] = int(best[row])
    return out


def group_by_boxes(
    gt_boxes: Sequence[Sequence[float]],
    pred_boxes: Sequence[Sequence[float] | None],
    *,
    min_overlap: float = MIN_OVERLAP,
) -> tuple[list[list[int]], list[int]]:
    """(for each reference, the indices of the predictions that landed on it, left to right
    by x0; the predictions that landed nowhere, in their order), by :func:`assign_by_boxes`."""
    owner = assign_by_boxes(gt_boxes, pred_boxes, min_overlap=min_overlap)
    landed: list[list[int]] = [[] for _ in gt_boxes]
    leftovers: list[int] = []
    for p, g in enumerate(owner):
        (leftovers if g < 0 else landed[g]).append(p)
    for group in landed:
        group.sort(key=lambda p: float(pred_boxes[p][0]))  # type: ignore[index]  # landed: boxed
    return landed, leftovers


def align_lines_by_boxes(
    gt_lines: Sequence[Any], pred_lines: Sequence[Any], *, min_overlap: float = MIN_OVERLAP
) -> list[tuple[str, str]]:
    """Pair reference and predicted lines by position, so reading order cannot inflate CER.

    Lines are ``(text, box)`` tuples or objects with ``.text`` and ``.box`` (e.g.
    ``document.Line``). Each predicted line goes to the reference line it overlaps most
    (:func:`group_by_boxes`); a reference line's predictions are joined left to right with
    one space. Returns ``(ref, pred)`` in reference order, then ``('', pred)`` for
    predictions that overlap no reference line; unmatched references get ``(ref, '')``.
    When any reference line lacks a box, falls back to :func:`align_texts_by_order`.
    """
    gt = [_text_box(line) for line in gt_lines]
    pred = [_text_box(line) for line in pred_lines]
    gt_boxes = [box for _, box in gt if box is not None]
    if len(gt_boxes) < len(gt):
        return align_texts_by_order([t for t, _ in gt], [t for t, _ in pred])
    landed, leftovers = group_by_boxes(gt_boxes, [b for _, b in pred], min_overlap=min_overlap)
    pairs = [(gtext, " ".join(pred[p][0] for p in group))
             for (gtext, _), group in zip(gt, landed, strict=True)]
    pairs.extend(("", pred[p][0]) for p in leftovers)
    return pairs


def align_texts_by_order(
    gt_lines: Sequence[str], pred_lines: Sequence[str], *, min_similarity: float = 50.0
) -> list[tuple[str, str]]:
    """Pair reference and predicted lines by content when there are no boxes.

    Method: (1) one-to-one greedy assignment in descending ``rapidfuzz.fuzz.ratio`` (0-100;
    pairs below ``min_similarity`` are not made), independent of the order either side lists
    its lines; (2) each remaining prediction is appended or prepended (with a space) to the
    paired prediction where that lowers the total edits the most, which re-joins a line the
    engine split in two; (3) what is left stays unmatched. Returns ``(ref, pred)`` in reference
    order, then ``('', pred)`` for unmatched predictions; unmatched references get ``''``.
    """
    gt = list(gt_lines)
    pred = list(pred_lines)
    paired: dict[int, str] = {}
    free_pred = set(range(len(pred)))
    if gt and pred:
        scores = process.cdist(gt, pred, scorer=fuzz.ratio, dtype=np.float32)
        gi, pi = np.nonzero(scores >= min_similarity)
        order = sorted(
            zip(gi.tolist(), pi.tolist(), strict=True), key=lambda gp: (-scores[gp], gp[0], gp[1])
        )
        for g, p in order:
            if g in paired or p not in free_pred:
                continue
            paired[g] = pred[p]
            free_pred.discard(p)
    leftovers: list[str] = []
    for p in sorted(free_pred):
        text = pred[p]
        best: tuple[int, int, str] | None = None  # (gain, gt index, new text)
        for g, cur in paired.items():
            before = Levenshtein.distance(gt[g], cur) + len(text)  # leftover costs its length
            for cand in (f"{cur} {text}", f"{text} {cur}"):
                gain = before - Levenshtein.distance(gt[g], cand)
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, g, cand)
        if best is None:
            leftovers.append(text)
        else:
            paired[best[1]] = best[2]
    pairs = [(text, paired.get(g, "")) for g, text in enumerate(gt)]
    pairs.extend(("", t) for t in leftovers)
    return pairs


def aligned_cer_counts(pairs: Iterable[tuple[str, str]]) -> tuple[int, int]:
    """Sum of (edits, ref chars) over aligned pairs: the page-level CER numerator/denominator."""
    edits = chars = 0
    for ref, pred in pairs:
        e, c = cer_counts(ref, pred)
        edits += e
        chars += c
    return edits, chars
