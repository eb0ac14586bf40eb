"""Augmentations of a labelled page that keep its labels exact.

Photometric steps (noise, blur, brightness and contrast, JPEG, ink bleed) leave every pixel
where it was, so boxes do not move. Geometric steps return the 3x3 forward matrix of the
move (``core.geometry`` conventions: pixel-edge coordinates, input -> output) and the truth
goes through the same matrix: quarter turns exactly (``quarter_turn_image``), small
rotations and perspective tilts on a canvas grown to hold the whole page (``fit_homography``,
nothing is cut off, so no word loses ink to the border), a lower resolution by the exact
scale of the resize. ``random_params`` draws a recipe (JSON) and ``apply`` is a pure function
of the recipe, so every augmented page can be made again from what the dataset records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ocr_tasks.core.geometry import fit_homography, pixel_centre_matrix, quarter_turn_image
from ocr_tasks.synth.degrade import blur, gaussian_noise, jpeg
from ocr_tasks.truth import TruthPage

WHITE = 255


@dataclass(frozen=True)
class Augmented:
    """The augmented pixels (BGR or gray), the truth in their frame and the recipe used."""

    image: np.ndarray
    truth: TruthPage
    params: dict[str, Any]


# --- photometric: boxes unchanged ----------------------------------------------------------
def brightness_contrast(image: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """Grey levels scaled by ``contrast`` about mid-grey, then shifted by ``brightness``:
    a lighter or darker scan, faded toner."""
    out = (image.astype(np.float32) - 128.0) * np.float32(contrast) + np.float32(128 + brightness)
    return np.clip(out, 0, 255).astype(np.uint8)


def ink_bleed(image: np.ndarray, radius: int, strength: float) -> np.ndarray:
    """Ink spreading into the paper by ``radius`` pixels at ``strength`` (0..1) of its
    darkness: a dark-value (erosion) filter blended with the page."""
    if radius < 1 or strength <= 0:
        return image
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    spread = cv2.erode(image, kernel)
    return cv2.addWeighted(spread, float(strength), image, 1.0 - float(strength), 0.0)


# --- geometric: boxes through the same matrix ----------------------------------------------
def warp(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image moved by ``matrix`` onto a white canvas holding all of it; returns the
    image and the forward matrix actually applied (``matrix`` plus the shift onto it)."""
    h, w = image.shape[:2]
    fitted, out_w, out_h = fit_homography(matrix, w, h)
    border = WHITE if image.ndim == 2 else (WHITE, WHITE, WHITE)
    out = cv2.warpPerspective(image, pixel_centre_matrix(fitted), (out_w, out_h),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=border)
    return out, fitted


def small_rotation(image: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by a small angle, counter-clockwise positive (a page lying crooked)."""
    h, w = image.shape[:2]
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    cx, cy = w / 2.0, h / 2.0
    m = np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy], [0, 0, 1.0]])
    return warp(image, m)


def perspective_tilt(image: np.ndarray, jitter: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """A page seen slightly off-axis: its corners (top-left, top-right, bottom-right,
    bottom-left) moved by ``jitter`` (8 values, fractions of the width and height)."""
    h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = (src + np.array(jitter, dtype=np.float32).reshape(4, 2) * [w, h]).astype(np.float32)
    return warp(image, cv2.getPerspectiveTransform(src, dst).astype(float))


def quarter_turn(image: np.ndarray, clockwise_deg: int) -> tuple[np.ndarray, np.ndarray]:
    """0/90/180/270 degrees clockwise: a page fed sideways or upside down."""
    return quarter_turn_image(image, clockwise_deg)


def low_dpi(image: np.ndarray, factor: float, keep_size: bool) -> tuple[np.ndarray, np.ndarray]:
    """Resample at ``factor`` of the resolution. ``keep_size`` scales back up (a soft low-dpi
    scan in the original frame: the identity matrix), else the page stays small and the
    matrix is the exact scale of the resize."""
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    if keep_size:
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.eye(3)
    return small, np.diag([nw / w, nh / h, 1.0])


# --- recipes --------------------------------------------------------------------------------
def _r(v: float) -> float:
    return round(float(v), 4)


# each step's "off" value in a recipe
OFF: dict[str, Any] = {
    "grayscale": False, "ink_bleed": 0.0, "rotation_deg": 0.0, "perspective": [],
    "quarter_turn_cw": 0, "dpi_factor": 1.0, "blur_sigma": 0.0, "brightness": 0.0,
    "noise_std": 0.0, "jpeg_quality": 100,
}


def steps_used(params: dict[str, Any]) -> list[str]:
    """The steps a recipe turns on (for counts in a dataset card)."""
    return [k for k, off in OFF.items() if k in params and params[k] != off]


def random_params(rng: random.Random, strength: float = 1.0) -> dict[str, Any]:
    """A recipe: each step on or off by its own chance, magnitudes scaled by ``strength``.
    Every value is drawn, in a fixed order, whether its step is used or not, so one step's
    chance never shifts another's values."""
    s = max(0.0, float(strength))
    u = [rng.random() for _ in range(11)]
    turn = rng.choice((90, 180, 270))
    angle = rng.uniform(-3.0, 3.0) * s
    jitter = [rng.uniform(-0.03, 0.03) * s for _ in range(8)]
    factor, keep = rng.uniform(0.45, 0.85), rng.random() < 0.5
    sigma, bleed = rng.uniform(0.3, 1.1) * s, rng.uniform(0.3, 0.8)
    brightness, contrast = rng.uniform(-35, 35) * s, 1.0 + rng.uniform(-0.35, 0.2) * s
    std, quality = rng.uniform(2.0, 9.0) * s, rng.randint(35, 90)
    noise_seed = rng.getrandbits(63)
    return {
        "grayscale": u[0] < 0.7,
        "ink_bleed": _r(bleed) if u[1] < 0.2 else 0.0,
        "rotation_deg": _r(angle) if u[2] < 0.45 else 0.0,
        "perspective": [_r(v) for v in jitter] if u[3] < 0.25 else [],
        "quarter_turn_cw": turn if u[4] < 0.1 else 0,
        "dpi_factor": _r(factor) if u[5] < 0.3 else 1.0,
        "dpi_keep_size": keep,
        "blur_sigma": _r(sigma) if u[6] < 0.4 else 0.0,
        "brightness": _r(brightness) if u[7] < 0.5 else 0.0,
        "contrast": _r(contrast) if u[7] < 0.5 else 1.0,
        "noise_std": _r(std) if u[8] < 0.5 else 0.0,
        "noise_seed": noise_seed,
        "jpeg_quality": quality if u[9] < 0.4 else 100,
    }


def apply(image: np.ndarray, truth: TruthPage, params: dict[str, Any]) -> Augmented:
    """Run a recipe: ink bleed on the clean page, then the geometry (perspective, rotation,
    quarter turn, resolution) as one composed matrix for the truth, then blur, light,
    noise and JPEG."""
    out = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if params["grayscale"] and image.ndim == 3 \
        else image
    out = ink_bleed(out, 1, params["ink_bleed"])
    matrix = np.eye(3)
    steps: list[tuple[bool, Any]] = [
        (bool(params["perspective"]), lambda im: perspective_tilt(im, params["perspective"])),
        (bool(params["rotation_deg"]), lambda im: small_rotation(im, params["rotation_deg"])),
        (bool(params["quarter_turn_cw"]), lambda im: quarter_turn(im, params["quarter_turn_cw"])),
        (params["dpi_factor"] < 1.0,
         lambda im: low_dpi(im, params["dpi_factor"], params["dpi_keep_size"])),
    ]
    for wanted, step in steps:
        if wanted:
            out, m = step(out)
            matrix = m @ matrix
    out = blur(out, params["blur_sigma"])
    if params["brightness"] or params["contrast"] != 1.0:
        out = brightness_contrast(out, params["brightness"], params["contrast"])
    out = gaussian_noise(out, params["noise_std"], params["noise_seed"])
    out = jpeg(out, params["jpeg_quality"])
    h, w = out.shape[:2]
    moved = truth if np.array_equal(matrix, np.eye(3)) else truth.transformed(matrix, w, h)
    return Augmented(out, moved, params)


def augment(image: np.ndarray, truth: TruthPage, rng: random.Random,
            strength: float = 1.0) -> Augmented:
    """A random recipe from ``rng`` applied to the page."""
    return apply(image, truth, random_params(rng, strength))
