"""Detector fine-tuning with the differentiable-binarization (DB) loss.

The shipped detector only has DB's probability branch (inference reads nothing else), so a
threshold branch of the same shape is added for training, starting as a copy of the
probability branch, and dropped afterwards. Targets follow the DB paper (and PaddleOCR's
``MakeShrinkMap``/``MakeBorderMap``): the probability target is each text polygon shrunk by
``D = A (1 - r^2) / L``; the threshold target rises from 0.3 to 0.7 towards the polygon's
border within ``D`` of it; the binary map ``1 / (1 + exp(-k (P - T)))`` is trained with dice.
Loss = 5 * balanced BCE (probability, 3:1 hard negatives) + 10 * masked L1 (threshold)
+ dice (binary). Text too small to shrink, and don't-care regions, are masked out.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper
import torch
import torch.nn.functional as F
from torch import nn

from ocr_tasks.core.geometry import Box
from ocr_tasks.engine import postprocess as post
from ocr_tasks.engine.models.detector import DBHead, TextDetector

SHRINK_RATIO = 0.4
THRESH_MIN, THRESH_MAX = 0.3, 0.7
MIN_TEXT_SIZE = 8  # pixels; smaller text is ignored, as in PaddleOCR
BINARIZE_K = 50.0
ALPHA, BETA = 5.0, 10.0
NEGATIVE_RATIO = 3.0


@dataclass(frozen=True)
class DBTargets:
    """HxW float32 maps: probability target and mask, threshold target and mask."""

    shrink: np.ndarray
    shrink_mask: np.ndarray
    thresh: np.ndarray
    thresh_mask: np.ndarray


def box_polygon(box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _offset(polygon: np.ndarray, distance: float) -> list[np.ndarray]:
    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(p) for p in polygon.round().astype(np.int64)], pyclipper.JT_ROUND,
                pyclipper.ET_CLOSEDPOLYGON)
    return [np.asarray(p, dtype=np.float64) for p in pco.Execute(distance)]


def _shrink_distance(polygon: np.ndarray) -> float:
    area = abs(cv2.contourArea(polygon.astype(np.float32)))
    length = cv2.arcLength(polygon.astype(np.float32).reshape(-1, 1, 2), True)
    return area * (1 - SHRINK_RATIO**2) / length if length else 0.0


def db_targets(
    polygons: Sequence[np.ndarray], ignored: Sequence[np.ndarray], height: int, width: int
) -> DBTargets:
    """DB training targets for text ``polygons`` (Nx2 points) on an image of this size;
    ``ignored`` regions (don't-care text) are masked out of the probability loss."""
    shrink = np.zeros((height, width), np.float32)
    shrink_mask = np.ones((height, width), np.float32)
    canvas = np.zeros((height, width), np.float32)
    thresh_mask = np.zeros((height, width), np.float32)
    for polygon in ignored:
        cv2.fillPoly(shrink_mask, [polygon.round().astype(np.int32)], 0.0)
    for polygon in polygons:
        sides = polygon.max(0) - polygon.min(0)
        distance = _shrink_distance(polygon)
        shrunk = _offset(polygon, -distance) if min(sides) >= MIN_TEXT_SIZE else []
        if not shrunk:
            cv2.fillPoly(shrink_mask, [polygon.round().astype(np.int32)], 0.0)
            continue
        cv2.fillPoly(shrink, [shrunk[0].round().astype(np.int32)], 1.0)
        _draw_border(polygon, distance, canvas, thresh_mask)
    thresh = canvas * (THRESH_MAX - THRESH_MIN) + THRESH_MIN
    return DBTargets(shrink, shrink_mask, thresh, thresh_mask)


def _draw_border(polygon: np.ndarray, distance: float, canvas: np.ndarray,
                 mask: np.ndarray) -> None:
    """1 on the polygon's border falling to 0 at ``distance`` from it, inside the polygon
    grown by ``distance`` (the threshold mask)."""
    grown = _offset(polygon, distance)
    if not grown or distance <= 0:
        return
    cv2.fillPoly(mask, [grown[0].round().astype(np.int32)], 1.0)
    h, w = canvas.shape
    x0, y0 = np.floor(grown[0].min(0)).astype(int)
    x1, y1 = np.ceil(grown[0].max(0)).astype(int)
    xs = np.arange(x0, x1 + 1, dtype=np.float64)
    ys = np.arange(y0, y1 + 1, dtype=np.float64)
    gx, gy = np.meshgrid(xs, ys)
    dist = np.full(gx.shape, np.inf)
    for i in range(len(polygon)):
        a, b = polygon[i], polygon[(i + 1) % len(polygon)]
        dist = np.minimum(dist, _segment_distance(gx, gy, a, b))
    value = 1.0 - np.clip(dist / distance, 0.0, 1.0)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    if cx1 < cx0 or cy1 < cy0:
        return
    part = value[cy0 - y0 : cy1 - y0 + 1, cx0 - x0 : cx1 - x0 + 1]
    region = canvas[cy0 : cy1 + 1, cx0 : cx1 + 1]
    np.maximum(region, part.astype(np.float32), out=region)


def _segment_distance(gx: np.ndarray, gy: np.ndarray, a: np.ndarray, b: np.ndarray
                      ) -> np.ndarray:
    d = b - a
    length2 = float(d @ d) or 1e-12
    t = np.clip(((gx - a[0]) * d[0] + (gy - a[1]) * d[1]) / length2, 0.0, 1.0)
    return np.hypot(gx - (a[0] + t * d[0]), gy - (a[1] + t * d[1]))


# --------------------------------------------------------------------------- model and loss


class ThresholdHead(nn.Module):
    """DB's threshold branch for training, same shape as the probability branch."""

    def __init__(self, source: DBHead) -> None:
        super().__init__()
        self.head = copy.deepcopy(source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


def det_maps(detector: TextDetector, thresh_head: ThresholdHead,
             x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Probability logits and threshold map (Bx1xHxW each) from one backbone pass."""
    features = detector.neck(detector.backbone(x))
    head = detector.head
    logits = head.up2(F.relu(head.up1(head.conv(features))))
    return logits, thresh_head(features)


def db_loss(logits: torch.Tensor, thresh: torch.Tensor, targets: dict[str, torch.Tensor]
            ) -> torch.Tensor:
    """5 * balanced BCE + 10 * masked L1 + dice, in float32."""
    logits, thresh = logits.float()[:, 0], thresh.float()[:, 0]
    gt, mask = targets["shrink"], targets["shrink_mask"]
    bce = F.binary_cross_entropy_with_logits(logits, gt, reduction="none")
    positive = gt * mask
    negative = (1 - gt) * mask
    n_pos = int(positive.sum().item())
    n_neg = min(int(negative.sum().item()), int(n_pos * NEGATIVE_RATIO))
    pos_loss = (bce * positive).sum()
    neg_losses = (bce * negative).flatten()
    neg_loss = torch.topk(neg_losses, n_neg).values.sum() if n_neg else neg_losses.sum() * 0
    balanced = (pos_loss + neg_loss) / (n_pos + n_neg + 1e-6)
    t_mask = targets["thresh_mask"]
    l1 = (torch.abs(thresh - targets["thresh"]) * t_mask).sum() / (t_mask.sum() + 1e-6)
    prob = torch.sigmoid(logits)
    binary = torch.reciprocal(1 + torch.exp(-BINARIZE_K * (prob - thresh)))
    inter = (binary * gt * mask).sum()
    union = (binary * mask).sum() + (gt * mask).sum() + 1e-6
    dice = 1 - 2 * inter / union
    return ALPHA * balanced + BETA * l1 + dice


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class DetPage:
    """A page at the engine's detection scale with its line and don't-care polygons."""

    image: np.ndarray
    lines: tuple[np.ndarray, ...]
    ignored: tuple[np.ndarray, ...]


def det_sample(page: DetPage, size: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, DBTargets]:
    """A random ``size`` x ``size`` window of the page (white-padded where the page is
    smaller), normalized as the engine does, with its targets."""
    h, w = page.image.shape[:2]
    x0 = int(rng.integers(0, max(1, w - size + 1)))
    y0 = int(rng.integers(0, max(1, h - size + 1)))
    window = np.full((size, size, 3), 255, np.uint8)
    part = page.image[y0 : y0 + size, x0 : x0 + size]
    window[: part.shape[0], : part.shape[1]] = part
    shift = np.array([x0, y0], dtype=np.float64)

    def inside(polygons: Sequence[np.ndarray]) -> list[np.ndarray]:
        moved = [p - shift for p in polygons]
        return [p for p in moved if p.max(0).min() > 0 and p.min(0).max() < size]

    targets = db_targets(inside(page.lines), inside(page.ignored), size, size)
    return post.normalize(window), targets
