"""Pixel geometry shared by every layer: boxes, polygons, homographies and quarter turns.

Conventions, owned here and nowhere else:

* Coordinates are pixel *edges* of the image as stored: x to the right, y down, the
  top-left corner of the top-left pixel at (0, 0), the bottom-right corner of a W x H image
  at (W, H). A ``Box`` is axis-aligned ``(x0, y0, x1, y1)``; a ``Polygon`` lists its points
  clockwise (on screen) from the top-left.
* Matrices are 3x3 homographies mapping *input* coordinates to *output* coordinates
  (forward). A caller that needs the way back inverts, or for quarter turns asks for the
  opposite turn of the output image (exact, no floating-point inverse).
* Quarter turns are given in degrees **clockwise as seen on screen** (0, 90, 180, 270, or
  any multiple of 90, negative for counter-clockwise): turning a W x H image by 90 gives
  an H x W image whose top row is the input's left column read bottom to top.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

Point = tuple[float, float]
Polygon = tuple[Point, ...]
Box = tuple[float, float, float, float]


# --------------------------------------------------------------------------- boxes, polygons


def polygon_box(polygon: Polygon) -> Box:
    """Axis-aligned bounds of a polygon."""
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return (min(xs), min(ys), max(xs), max(ys))


def box_polygon(box: Box) -> Polygon:
    x0, y0, x1, y1 = box
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def union_box(boxes: Iterable[Sequence[float]]) -> Box:
    """The smallest box holding all ``boxes`` (at least one)."""
    items = list(boxes)
    return (
        min(b[0] for b in items), min(b[1] for b in items),
        max(b[2] for b in items), max(b[3] for b in items),
    )


def boxes_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two boxes share area (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def transform_boxes(
    boxes: Sequence[Sequence[float]] | np.ndarray,
    matrix: np.ndarray,
    clip_to: tuple[float, float] | None = None,
) -> np.ndarray:
    """Map each (x0, y0, x1, y1) row's four corners through a 3x3 homography and take the
    axis-aligned bounds; ``clip_to=(width, height)`` clips them to the output image."""
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    xs = b[:, [0, 2, 2, 0]]
    ys = b[:, [1, 1, 3, 3]]
    pts = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ np.asarray(matrix, float).T  # (n,4,3)
    px, py = pts[..., 0] / pts[..., 2], pts[..., 1] / pts[..., 2]
    out = np.stack([px.min(1), py.min(1), px.max(1), py.max(1)], axis=1)
    if clip_to is not None:
        width, height = clip_to
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def transform_box(box: Sequence[float], matrix: np.ndarray,
                  clip_to: tuple[float, float] | None = None) -> Box:
    x0, y0, x1, y1 = transform_boxes([box], matrix, clip_to)[0].tolist()
    return (x0, y0, x1, y1)


def fit_homography(matrix: np.ndarray, width: float, height: float,
                   margin: float = 0.0) -> tuple[np.ndarray, int, int]:
    """``matrix`` followed by the translation that puts the whole moved ``width`` x
    ``height`` image at ``margin`` from the top-left, and the output size that holds all of
    it: a warp into that size cuts nothing off."""
    corners = transform_boxes([(0.0, 0.0, width, height)], matrix)[0]
    shift = np.array([[1.0, 0.0, margin - corners[0]], [0.0, 1.0, margin - corners[1]],
                      [0.0, 0.0, 1.0]])
    out_w = int(np.ceil(corners[2] - corners[0] + 2 * margin))
    out_h = int(np.ceil(corners[3] - corners[1] + 2 * margin))
    return shift @ np.asarray(matrix, float), out_w, out_h


def pixel_centre_matrix(matrix: np.ndarray) -> np.ndarray:
    """The same map for pixel-centre coordinates (OpenCV's warps: pixel i is at i, here at
    i + 0.5), so a warp moves the pixels exactly as ``matrix`` moves edge coordinates."""
    to_edges = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    to_centres = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    return to_centres @ np.asarray(matrix, float) @ to_edges


# --------------------------------------------------------------------------- quarter turns


def quarter_turns(clockwise_deg: int) -> int:
    """0..3 clockwise quarter turns for a multiple of 90 degrees (ValueError otherwise: a
    quarter turn that is not one is a caller's bug, not something to round)."""
    if int(clockwise_deg) % 90:
        raise ValueError(f"not a quarter turn: {clockwise_deg} degrees")
    return (int(clockwise_deg) // 90) % 4


def quarter_turn_matrix(clockwise_deg: int, width: float, height: float) -> np.ndarray:
    """Forward matrix of turning a ``width`` x ``height`` image ``clockwise_deg`` clockwise:
    input coordinates -> coordinates in the turned image."""
    w, h = float(width), float(height)
    k = quarter_turns(clockwise_deg)
    rows = {
        0: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        1: [[0, -1, h], [1, 0, 0], [0, 0, 1]],  # x' = h - y, y' = x
        2: [[-1, 0, w], [0, -1, h], [0, 0, 1]],  # x' = w - x, y' = h - y
        3: [[0, 1, 0], [-1, 0, w], [0, 0, 1]],  # x' = y, y' = w - x
    }[k]
    return np.array(rows, dtype=np.float64)


def turn_of(matrix: np.ndarray, centre: tuple[float, float]) -> int:
    """The quarter turn (0, 90, 180 or 270 degrees clockwise) nearest to how ``matrix`` turns
    a horizontal line through ``centre``: what a page's reading direction became after skew,
    perspective and quarter turns."""
    cx, cy = centre
    a, b = transform_boxes(np.array([[cx, cy, cx, cy], [cx + 1, cy, cx + 1, cy]]), matrix)
    angle = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))  # y points down: clockwise
    return int(round(angle / 90) % 4) * 90


def quarter_turned_size(clockwise_deg: int, width: int, height: int) -> tuple[int, int]:
    """(width, height) after the turn."""
    return (height, width) if quarter_turns(clockwise_deg) % 2 else (width, height)


def quarter_turn_image(image: np.ndarray, clockwise_deg: int) -> tuple[np.ndarray, np.ndarray]:
    """The image turned ``clockwise_deg`` clockwise and the forward matrix (input -> output).

    A turn by 0 returns the image itself, not a copy."""
    h, w = image.shape[:2]
    k = quarter_turns(clockwise_deg)
    matrix = quarter_turn_matrix(clockwise_deg, w, h)
    if k == 0:
        return image, matrix
    codes = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(image, codes[k]), matrix


def quarter_turn_back(clockwise_deg: int, width: int, height: int) -> np.ndarray:
    """The matrix from a turned image's coordinates back to the ``width`` x ``height``
    input's: the opposite turn of the output, exact."""
    out_w, out_h = quarter_turned_size(clockwise_deg, width, height)
    return quarter_turn_matrix(-clockwise_deg, out_w, out_h)


def quarter_turn_box(box: Sequence[float], clockwise_deg: int, width: float,
                     height: float) -> Box:
    """A box of a ``width`` x ``height`` image, in the frame of that image turned
    ``clockwise_deg`` clockwise (not clipped)."""
    return transform_box(box, quarter_turn_matrix(clockwise_deg, width, height))
