"""From network outputs to geometry and text: DB boxes, line crops, CTC decoding, words,
reading order.

Pure numpy/OpenCV functions so each step can be unit-tested without a model. Quadrilaterals
are float32 arrays of shape (4, 2), clockwise from top-left, in the frame of the image they
were found in.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper

REC_HEIGHT = 48
REC_STRIDE = 8  # the recognizer emits one time step per 8 input columns
WORD_BREAK_AFTER = "-/"  # FUNSD-style: "9/3/92" -> "9/", "3/", "92"; "HLB-KS" -> "HLB-", "KS"
WORD_MARGIN_X = 0.2  # word box margins around the ink, in line ink heights (FUNSD-calibrated)
WORD_MARGIN_Y = 0.2
CTC_SPIKE_OFFSET = 0.25  # a character's spike, in time steps from the step's left edge


# --- detection -------------------------------------------------------------------------------


def order_quad(points: np.ndarray) -> np.ndarray:
    """Clockwise from top-left, whatever order cv2.boxPoints returned."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def _box_score(prob: np.ndarray, contour: np.ndarray) -> float:
    """Mean probability inside the contour: DB's confidence that the region is text."""
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(contour.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(contour.max(0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [(contour - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def unclip(quad: np.ndarray, ratio: float) -> np.ndarray | None:
    """Grow a shrunk DB kernel back to the text extent (offset = area * ratio / perimeter)."""
    area = cv2.contourArea(quad)
    length = cv2.arcLength(quad.reshape(-1, 1, 2), True)
    if length == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad.astype(np.int64).tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * ratio / length)
    if len(grown) != 1:
        return None
    return np.asarray(grown[0], dtype=np.float32)


def db_boxes(
    prob: np.ndarray,
    *,
    thresh: float = 0.3,
    box_thresh: float = 0.5,
    unclip_ratio: float = 1.6,
    min_side: float = 3.0,
    max_candidates: int = 3000,
) -> list[tuple[np.ndarray, float]]:
    """Rotated text quadrilaterals and their scores from a DB probability map (HxW)."""
    mask = cv2.dilate((prob > thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    h, w = prob.shape
    boxes: list[tuple[np.ndarray, float]] = []
    for contour in contours[:max_candidates]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < min_side:
            continue
        score = _box_score(prob, contour.reshape(-1, 2).astype(np.float32))
        if score < box_thresh:
            continue
        grown = unclip(order_quad(cv2.boxPoints(rect)), unclip_ratio)
        if grown is None:
            continue
        rect = cv2.minAreaRect(grown)
        if min(rect[1]) < min_side + 2:
            continue
        quad = order_quad(cv2.boxPoints(rect))
        quad[:, 0] = quad[:, 0].clip(0, w)
        quad[:, 1] = quad[:, 1].clip(0, h)
        boxes.append((quad, score))
    return boxes


def scale_quads(
    quads: Sequence[np.ndarray], back: np.ndarray, width: int, height: int
) -> list[np.ndarray]:
    """Quads found on a resized copy mapped through ``back`` (3x3, copy pixel -> page pixel)
    into the page frame, clipped to its ``width`` x ``height``."""
    if np.array_equal(back, np.eye(3)):
        return list(quads)
    out = []
    for q in quads:
        mapped = map_points(back, q)
        mapped[:, 0] = mapped[:, 0].clip(0, width)
        mapped[:, 1] = mapped[:, 1].clip(0, height)
        out.append(mapped)
    return out


def quad_angle(quad: np.ndarray) -> float:
    """Angle in degrees of the quad's top edge (positive = clockwise in image coordinates)."""
    (x0, y0), (x1, y1) = quad[0], quad[1]
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


def quad_size(quad: np.ndarray) -> tuple[float, float]:
    """(width along the top edge, height along the left edge)."""
    return float(np.linalg.norm(quad[1] - quad[0])), float(np.linalg.norm(quad[3] - quad[0]))


# --- crops -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crop:
    """A perspective-corrected line image and the homography back to its source image."""

    image: np.ndarray
    to_source: np.ndarray  # 3x3, crop pixel (x, y) -> source pixel


def crop_quad(image: np.ndarray, quad: np.ndarray) -> Crop:
    """Warp the quad to an upright rectangle, so skewed lines reach the recognizer straight."""
    width, height = quad_size(quad)
    w = max(1, int(round(width)))
    h = max(1, int(round(height)))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    to_crop = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    warped = cv2.warpPerspective(
        image, to_crop, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return Crop(warped, np.linalg.inv(to_crop))


def map_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography (or 2x3 affine) to Nx2 points."""
    m = matrix if matrix.shape == (3, 3) else np.vstack([matrix, [0, 0, 1]])
    pts = np.hstack([np.asarray(points, np.float64), np.ones((len(points), 1))]) @ m.T
    return (pts[:, :2] / pts[:, 2:3]).astype(np.float32)


def rec_width(crop: np.ndarray) -> int:
    """Width the crop takes at the recognizer's height, at least one time step."""
    h, w = crop.shape[:2]
    return max(REC_STRIDE, int(np.ceil(w * REC_HEIGHT / max(h, 1))))


def normalize(image: np.ndarray) -> np.ndarray:
    """BGR uint8 HxWx3 -> C-contiguous 3xHxW float32 scaled as (x/255 - 0.5)/0.5: one
    allocation, scaled in place (a page is ~25 MB as float32; the backends take it as is)."""
    out = np.empty((image.shape[2], *image.shape[:2]), dtype=np.float32)
    for c in range(image.shape[2]):
        np.multiply(image[:, :, c], 1.0 / 127.5, out=out[c], casting="unsafe")
    out -= 1.0
    return out


def _width_ladder(top: int = 6000) -> tuple[int, ...]:
    """From 32 px, 16 px apart up to 160, then about 10 % apart (multiples of 16) up to
    ``top``: a crop is padded by 5 % on average, 13 % at most past 160 px."""
    ladder = [32]
    while ladder[-1] < top:
        last = ladder[-1]
        ladder.append(max(last + 16, -(-last * 11 // 160) * 16))
    return tuple(ladder)


# Recognizer input widths on runtimes that compile kernels for each input shape (OpenVINO):
# a worker meets these ~45 widths over its life instead of hundreds, so its kernels are
# reused. Measured on the 31 FUNSD validation pages with the tiny recognizer on an AMX Xeon,
# where a new shape cost ~37 ms beside ~12 ms for the call itself: recognition 0.46-0.64 ->
# 0.21 CPU s/page once warm, 0.27 on the first pass, peak RSS 1150-1170 -> 1130 MB.
REC_WIDTH_LADDER = _width_ladder()
REC_WIDTH_BEYOND = 1024  # past the ladder's top, widths round up to multiples of this


def rec_padded_width(width: int) -> int:
    """The smallest width of :data:`REC_WIDTH_LADDER` that holds ``width`` (past its top,
    the next multiple of :data:`REC_WIDTH_BEYOND`)."""
    at = bisect.bisect_left(REC_WIDTH_LADDER, width)
    if at < len(REC_WIDTH_LADDER):
        return REC_WIDTH_LADDER[at]
    return -(-width // REC_WIDTH_BEYOND) * REC_WIDTH_BEYOND


def rec_batch(
    crops: Sequence[np.ndarray], *, laddered: bool = False
) -> tuple[np.ndarray, list[int]]:
    """Resize crops to height 48 keeping aspect, pad right to the widest crop's width (0 =
    mid gray, as in training), raised to the next ladder width when ``laddered``
    (:func:`rec_padded_width`). Returns the batch and each crop's resized width."""
    widths = [rec_width(c) for c in crops]
    total = rec_padded_width(max(widths)) if laddered else max(widths)
    total = int(np.ceil(total / REC_STRIDE) * REC_STRIDE)
    batch = np.zeros((len(crops), 3, REC_HEIGHT, total), dtype=np.float32)
    used: list[int] = []
    for i, (crop, w) in enumerate(zip(crops, widths, strict=True)):
        batch[i, :, :, :w] = normalize(
            cv2.resize(crop, (w, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        )
        used.append(w)
    return batch, used


def det_batch(
    images: Sequence[np.ndarray], multiple: int = 32
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Detector input for pages of different sizes: each normalized into the top-left of a
    common canvas (sides multiples of ``multiple``) padded with white, as a single page is
    padded; returns the batch and each page's (height, width) to cut its map back out."""
    sizes = [(int(im.shape[0]), int(im.shape[1])) for im in images]
    height = -(-max(h for h, _ in sizes) // multiple) * multiple
    width = -(-max(w for _, w in sizes) // multiple) * multiple
    batch = np.ones((len(images), 3, height, width), dtype=np.float32)  # white, normalized
    for i, (im, (h, w)) in enumerate(zip(images, sizes, strict=True)):
        batch[i, :, :h, :w] = normalize(im)
    return batch, sizes


def size_groups(
    sizes: Sequence[tuple[int, int]], scale: float, batch: int, multiple: int = 32
) -> list[list[int]]:
    """Indices of pages to detect together: pages whose detector input (``scale`` times
    their size, padded to ``multiple``) is the same, at most ``batch`` per group, in order of
    first appearance. Only equal inputs are batched: the detector's squeeze-excitation
    blocks average over the whole input, so extra padding changes the map everywhere
    (measured: up to 0.88 in probability with 128-160 px more white), while pages of one
    scan job share their size and batch exactly."""
    groups: dict[tuple[int, int], list[list[int]]] = {}
    order: list[list[int]] = []
    for i, (h, w) in enumerate(sizes):
        key = (-(-max(1, round(h * scale)) // multiple), -(-max(1, round(w * scale)) // multiple))
        runs = groups.setdefault(key, [])
        if not runs or len(runs[-1]) >= batch:
            runs.append([])
            order.append(runs[-1])
        runs[-1].append(i)
    return order


def cls_batch(crops: Sequence[np.ndarray]) -> np.ndarray:
    """Direction-classifier input: 3x48x192, aspect kept, right-padded."""
    batch = np.zeros((len(crops), 3, 48, 192), dtype=np.float32)
    for i, crop in enumerate(crops):
        w = min(192, rec_width(crop))
        batch[i, :, :, :w] = normalize(cv2.resize(crop, (w, 48), interpolation=cv2.INTER_LINEAR))
    return batch


# --- CTC -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoded:
    """Greedy CTC result: characters with their confidence and time step."""

    text: str
    confidences: tuple[float, ...]
    steps: tuple[int, ...]

    @property
    def confidence(self) -> float:
        return float(np.mean(self.confidences)) if self.confidences else 0.0


def ctc_greedy_decode(
    probs: np.ndarray, charset: Sequence[str], valid_steps: int | None = None
) -> Decoded:
    """Best class per time step, repeated classes collapsed, blanks (class 0) dropped.

    ``probs`` is TxC softmax output; ``charset[i]`` is the character of class ``i``
    (``charset[0]`` stands for the blank).
    ``valid_steps`` ignores the steps that only saw right padding.
    """
    probs = probs[: valid_steps or len(probs)]
    best = probs.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    idx = np.flatnonzero(keep)
    text = "".join(charset[best[i]] for i in idx)
    return Decoded(text, tuple(float(best_p[i]) for i in idx), tuple(int(i) for i in idx))


# --- words -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordSpan:
    """A word inside a decoded line, in crop pixels: the CTC spikes of its first and last
    characters, the character pitch, and how far it may reach (halfway to its neighbours)."""

    text: str
    confidence: float
    first: float
    last: float
    pitch: float
    lo: float
    hi: float


def _token_ranges(text: str, break_after: str) -> list[tuple[int, int]]:
    """Character index ranges of words: split at spaces, and after ``break_after`` characters
    that sit between two non-space characters."""
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for i, ch in enumerate(text):
        if ch.isspace():
            if start is not None:
                ranges.append((start, i))
                start = None
            continue
        if start is None:
            start = i
        nxt = text[i + 1] if i + 1 < len(text) else " "
        if ch in break_after and i > start and not nxt.isspace():
            ranges.append((start, i + 1))
            start = None
    if start is not None:
        ranges.append((start, len(text)))
    return ranges


def split_words(
    decoded: Decoded,
    step_width: float,
    crop_width: float,
    *,
    break_after: str = WORD_BREAK_AFTER,
    spike_offset: float = CTC_SPIKE_OFFSET,
) -> list[WordSpan]:
    """Words of a decoded line with their extent in crop pixels from the CTC time steps.

    ``step_width`` is crop pixels per time step; a spike at step t sits at
    ``(t + spike_offset) * step_width`` (calibrated against FUNSD word boxes).
    """
    if not decoded.text:
        return []
    centers = (np.asarray(decoded.steps, dtype=np.float64) + spike_offset) * step_width
    pitch = _char_pitch(decoded.text, centers, step_width)
    ranges = _token_ranges(decoded.text, break_after)
    spans: list[WordSpan] = []
    for k, (a, b) in enumerate(ranges):
        lo = 0.5 * (centers[ranges[k - 1][1] - 1] + centers[a]) if k else 0.0
        hi = (
            0.5 * (centers[b - 1] + centers[ranges[k + 1][0]])
            if k + 1 < len(ranges)
            else crop_width
        )
        conf = float(np.mean(decoded.confidences[a:b]))
        spans.append(WordSpan(decoded.text[a:b], conf, centers[a], centers[b - 1], pitch, lo, hi))
    return spans


def _char_pitch(text: str, centers: np.ndarray, step_width: float) -> float:
    """Typical distance between neighbouring characters within words of the line."""
    gaps = [
        centers[i + 1] - centers[i]
        for i in range(len(centers) - 1)
        if not text[i].isspace() and not text[i + 1].isspace()
    ]
    return float(np.median(gaps)) if gaps else 2.0 * step_width


def ink_mask(gray: np.ndarray, rule_fill: float = 0.6) -> np.ndarray:
    """Dark pixels of a line crop (Otsu over the whole line), without form rules: rows
    inked across most of the crop are underlines or box edges, not text."""
    _, binary = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    binary[binary.mean(axis=1) > rule_fill] = 0
    return binary


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of runs of True."""
    padded = np.concatenate([[False], flags.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _middle_band(rows: np.ndarray) -> tuple[int, int] | None:
    """Extent of the row runs that touch the middle half of a crop."""
    h = len(rows)
    band = [(s, e) for s, e in _runs(rows) if e > 0.25 * h and s < 0.75 * h]
    return (band[0][0], band[-1][1]) if band else None


def fit_word_box(
    ink: np.ndarray,
    span: WordSpan,
    *,
    core: float = 0.25,
    margin_x: float = WORD_MARGIN_X,
    margin_y: float = WORD_MARGIN_Y,
) -> tuple[float, float, float, float]:
    """Box (x0, y0, x1, y1) around the ink of a word, plus margins.

    Columns: the ink runs within the word's reach that touch its core (first to last spike,
    widened by ``core`` pitch), so glyphs are kept whole but a neighbour is not annexed.
    Rows: the ink runs of those columns that touch the middle half of the line. Margins are
    fractions of the line's ink height (annotators draw boxes a little off the ink).
    Without ink, the spikes widened by half a pitch.
    """
    h, w = ink.shape
    fallback = (
        max(span.lo, span.first - 0.5 * span.pitch), 0.0,
        min(span.hi, span.last + 0.5 * span.pitch), float(h),
    )
    lo, hi = int(np.floor(max(0, span.lo))), int(np.ceil(min(w, span.hi)))
    line_band = _middle_band(np.asarray(ink.any(axis=1)))
    if hi <= lo or line_band is None:
        return fallback
    cols = ink[:, lo:hi].any(axis=0)
    a, b = span.first - core * span.pitch - lo, span.last + core * span.pitch - lo
    picked = [(s, e) for s, e in _runs(np.asarray(cols)) if e > a and s < b]
    if not picked:
        return fallback
    x0, x1 = lo + picked[0][0], lo + picked[-1][1]
    band = _middle_band(np.asarray(ink[:, x0:x1].any(axis=1)))
    if band is None:
        return fallback
    text_h = line_band[1] - line_band[0]
    mx, my = margin_x * text_h, margin_y * text_h
    return (
        max(0.0, x0 - mx),
        max(0.0, band[0] - my),
        min(float(w), x1 + mx),
        min(float(h), band[1] + my),
    )


# --- reading order ---------------------------------------------------------------------------


def reading_order(boxes: Sequence[tuple[float, float, float, float]]) -> list[int]:
    """Indices of axis-aligned boxes in reading order, by recursive XY-cut.

    At each level the region is cut along its widest empty gap: vertical gaps (columns) win
    over the narrow gaps between lines, so two columns are read one after the other; rows of
    a form stay together because boxes overlapping vertically are never cut apart.
    """
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return _xy_cut(arr, list(range(len(arr))))


def _gaps(lo: np.ndarray, hi: np.ndarray) -> list[tuple[float, float]]:
    """Empty intervals (start, end) between the union of [lo, hi] intervals."""
    order = np.argsort(lo, kind="stable")
    gaps: list[tuple[float, float]] = []
    reach = hi[order[0]]
    for i in order[1:]:
        if lo[i] > reach:
            gaps.append((reach, lo[i]))
        reach = max(reach, hi[i])
    return gaps


def _xy_cut(arr: np.ndarray, idx: list[int]) -> list[int]:
    if len(idx) <= 1:
        return idx
    sub = arr[idx]
    heights = sub[:, 3] - sub[:, 1]
    line_h = float(np.median(heights)) if len(heights) else 1.0
    # shrink boxes vertically a little so touching lines with loose boxes still separate
    shrink = 0.15 * heights
    y_gaps = _gaps(sub[:, 1] + shrink, sub[:, 3] - shrink)
    x_gaps = [g for g in _gaps(sub[:, 0], sub[:, 2]) if g[1] - g[0] >= 1.5 * line_h]
    best_x = max(x_gaps, key=lambda g: g[1] - g[0], default=None)
    best_y = max(y_gaps, key=lambda g: g[1] - g[0], default=None)
    use_x = best_x is not None and (
        best_y is None or (best_x[1] - best_x[0]) > 2.0 * (best_y[1] - best_y[0])
    )
    if use_x and best_x is not None:
        cut, axis = 0.5 * (best_x[0] + best_x[1]), 0
    elif best_y is not None:
        cut, axis = 0.5 * (best_y[0] + best_y[1]), 1
    else:  # one band of vertically overlapping boxes: a row, read left to right
        return [idx[i] for i in np.argsort(sub[:, 0], kind="stable")]
    centers = 0.5 * (sub[:, axis] + sub[:, axis + 2])
    first = [i for i, c in zip(idx, centers, strict=True) if c < cut]
    second = [i for i, c in zip(idx, centers, strict=True) if c >= cut]
    if not first or not second:
        return [idx[i] for i in np.argsort(sub[:, 0], kind="stable")]
    return _xy_cut(arr, first) + _xy_cut(arr, second)
