"""Scan and phone-photo degradations, each a small pure function of the image and parameters.

Profiles draw every random value from the caller's ``random.Random`` in a fixed order, so the
same seed gives the same parameters at any severity (severity only scales magnitudes) and the
recorded ``params`` reproduce the result. Geometric steps return a 3x3 matrix mapping input
pixel coordinates to output ones; the composed matrix moves the ground-truth boxes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np

from ocr_tasks.core.geometry import quarter_turn_image

WHITE = 255


@dataclass(frozen=True)
class Degraded:
    """A degraded image, the matrix that maps original to new pixel coordinates, and the
    parameters used (JSON-serialisable)."""

    image: np.ndarray
    matrix: np.ndarray
    params: dict[str, Any]


def _border(image: np.ndarray, value: int = WHITE) -> int | tuple[int, int, int]:
    return value if image.ndim == 2 else (value, value, value)


# --- geometric steps ------------------------------------------------------------------------
def skew(
    image: np.ndarray, angle_deg: float, resolution_factor: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by a small angle about the centre (counter-clockwise positive, as the page
    lay slightly crooked on the glass), keeping the page size and a white border.

    With ``resolution_factor`` < 1 the warp samples at that fraction of the resolution and
    scales back up: the softness of a low-dpi scan in the same pass, at the same geometry."""
    h, w = image.shape[:2]
    f = min(1.0, resolution_factor)
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    if f >= 0.97:
        out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=_border(image))
    else:
        small = (max(1, round(w * f)), max(1, round(h * f)))
        scaled = np.diag([small[0] / w, small[1] / h]) @ m
        out = cv2.warpAffine(image, scaled, small, flags=cv2.INTER_AREA,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=_border(image))
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out, np.vstack([m, [0.0, 0.0, 1.0]])


def rotate_quarter(image: np.ndarray, clockwise_deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn by 0/90/180/270 degrees clockwise (a page fed sideways or upside down); the
    matrix maps input to output pixels (``core.geometry`` conventions)."""
    return quarter_turn_image(image, clockwise_deg)


def resize(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Rescale (a scan at lower dpi)."""
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out = cv2.resize(image, (nw, nh), interpolation=interp)
    return out, np.diag([nw / w, nh / h, 1.0])


def perspective(
    image: np.ndarray, jitter: list[float], out_size: tuple[int, int], margin: float,
    background: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Photograph the page from slightly off-axis: its corners land at a margin inside an
    ``out_size`` frame, each moved by ``jitter`` (8 values, fractions of the frame) and the
    rest of the frame shows ``background`` (a table top)."""
    h, w = image.shape[:2]
    ow, oh = out_size
    base = np.array([[margin * ow, margin * oh], [(1 - margin) * ow, margin * oh],
                     [(1 - margin) * ow, (1 - margin) * oh], [margin * ow, (1 - margin) * oh]])
    dst = (base + np.array(jitter).reshape(4, 2) * [ow, oh]).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(image, m, (ow, oh), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=_border(image, 0))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (ow, oh),
                               flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[..., None] if image.ndim == 3 else mask / 255.0
    out = warped * alpha + background * (1 - alpha)
    return _to_uint8(out.astype(np.float32)), m.astype(float)


# --- photometric steps ----------------------------------------------------------------------
def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma) if sigma > 0.05 else image


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255, out=image).astype(np.uint8)


def illumination(image: np.ndarray, strength: float, angle_deg: float) -> np.ndarray:
    """Multiply by a linear light gradient (scanner lamp fall-off or a shadow across a photo);
    ``strength`` is the darkening at the dark side (0..1)."""
    if strength <= 0:
        return image
    h, w = image.shape[:2]
    a = np.deg2rad(angle_deg)
    cx, sy = np.float32(np.cos(a)), np.float32(np.sin(a))
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32) * cx
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32) * sy
    lo = float(min(xs[0], xs[-1]) + min(ys[0], ys[-1]))
    span = max(float(abs(xs[-1] - xs[0]) + abs(ys[-1] - ys[0])), 1e-6)
    # gain = 1 - strength * (ramp - lo) / span, as one outer sum
    k = np.float32(strength / span)
    gain = np.add.outer(ys * -k, xs * -k)
    gain += np.float32(1.0 + strength * lo / span)
    out = image.astype(np.float32)
    out *= gain[..., None] if image.ndim == 3 else gain
    return _to_uint8(out)


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """65536 standard-normal quantiles: indexing it with uniform 16-bit draws gives Gaussian
    noise several times faster than sampling a normal distribution per pixel."""
    inv = NormalDist().inv_cdf
    return np.array([inv((i + 0.5) / 65536) for i in range(65536)], dtype=np.float32)


def gaussian_noise(image: np.ndarray, std: float, seed: int) -> np.ndarray:
    """Sensor noise, rounded to whole grey levels (the output is 8-bit anyway)."""
    if std <= 0:
        return image
    h, w = image.shape[:2]
    draws = np.frombuffer(np.random.default_rng(seed).bytes(2 * h * w), dtype=np.uint16)
    table = np.round(_normal_table() * np.float32(std)).astype(np.int16)
    noise = table[draws].reshape(h, w)
    out = image.astype(np.int16)
    out += noise[..., None] if image.ndim == 3 else noise
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def salt_and_pepper(image: np.ndarray, amount: float, seed: int) -> np.ndarray:
    """Dust and toner specks: ``amount`` is the fraction of pixels flipped to black/white."""
    if amount <= 0:
        return image
    g = np.random.default_rng(seed)
    h, w = image.shape[:2]
    n = int(amount * h * w)
    out = image.copy()
    ys, xs = g.integers(0, h, n), g.integers(0, w, n)
    values = np.where(g.random(n) < 0.5, 0, 255).astype(np.uint8)
    out[ys, xs] = values[:, None] if image.ndim == 3 else values
    return out


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG: the block artefacts of scanners and phones that save JPEG."""
    if quality >= 100:
        return image
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    flag = cv2.IMREAD_GRAYSCALE if image.ndim == 2 else cv2.IMREAD_COLOR
    decoded = cv2.imdecode(buf, flag)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return np.asarray(decoded)


def table_background(size: tuple[int, int], rng: random.Random, seed: int) -> np.ndarray:
    """A dim, slightly textured table surface (BGR float) behind a photographed page."""
    w, h = size
    base = np.array([rng.randint(40, 110), rng.randint(50, 120), rng.randint(60, 140)],
                    dtype=np.float32)
    tex = np.random.default_rng(seed).normal(0, 6, (h // 8 + 1, w // 8 + 1)).astype(np.float32)
    tex = np.asarray(cv2.resize(cv2.GaussianBlur(tex, (0, 0), 2), (w, h),
                                interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    return np.asarray(base[None, None, :] + tex[..., None])


# --- profiles -------------------------------------------------------------------------------
def _r(v: float) -> float:
    return round(float(v), 4)


def scan_profile(
    image: np.ndarray, rng: random.Random, severity: float = 1.0, *,
    rotation_probability: float = 0.04, grayscale: bool | None = None,
    overrides: dict[str, Any] | None = None,
) -> Degraded:
    """A flatbed or feeder scan. At severity 1: skew up to ±1.5°, light blur and noise, some
    dust, JPEG quality 70-90, and a sideways/upside-down page with ``rotation_probability``
    (scaled by severity). Geometry scales linearly with severity, quality losses with
    severity**1.5. Severity 0 leaves the page clean. ``overrides`` pins chosen parameters
    (e.g. ``{"rotation_cw": 90}`` for a page known to be fed sideways)."""
    s = max(0.0, float(severity))
    # draw everything first, in a fixed order, so severity never changes the random stream
    u_skew, u_rot, rot_choice = rng.uniform(-1, 1), rng.random(), rng.choice((90, 180, 270))
    u_res, u_blur, u_noise = rng.random(), rng.random(), rng.random()
    u_sp, u_light, light_angle = rng.random(), rng.random(), rng.uniform(0, 360)
    u_jpeg = rng.random()
    u_gray = rng.random()
    noise_seed, sp_seed = rng.getrandbits(63), rng.getrandbits(63)

    gray = u_gray < 0.85 if grayscale is None else grayscale
    q = s**1.5  # image-quality losses grow faster than geometry: 3.0 is a really bad scan
    params: dict[str, Any] = {
        "profile": "scan",
        "severity": _r(s),
        "grayscale": gray,
        "skew_deg": _r(float(np.clip(u_skew * 1.5 * s, -6, 6))),
        "rotation_cw": rot_choice if u_rot < rotation_probability * s else 0,
        "resolution_factor": _r(max(0.3, 1.0 - u_res * 0.2 * q)),
        "blur_sigma": _r((0.2 + 0.4 * u_blur) * q),
        "illumination": _r(min(0.6, 0.06 * u_light * s)),
        "illumination_angle": _r(light_angle),
        "noise_std": _r((2.0 + 5.0 * u_noise) * q),
        "salt_pepper": _r(0.0015 * u_sp * q),
        "jpeg_quality": int(np.clip(round(100 - (10 + 20 * u_jpeg) * q), 5, 100)),
        "noise_seed": noise_seed,
        "salt_pepper_seed": sp_seed,
    }
    params.update(overrides or {})
    to_gray = params["grayscale"] and image.ndim == 3
    out = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if to_gray else image
    matrix = np.eye(3)
    if params["skew_deg"] or params["resolution_factor"] < 0.97:
        out, m = skew(out, params["skew_deg"], params["resolution_factor"])
        matrix = m @ matrix
    out, m = rotate_quarter(out, params["rotation_cw"])
    matrix = m @ matrix
    out = blur(out, params["blur_sigma"])
    out = illumination(out, params["illumination"], params["illumination_angle"])
    out = gaussian_noise(out, params["noise_std"], noise_seed)
    out = salt_and_pepper(out, params["salt_pepper"], sp_seed)
    out = jpeg(out, params["jpeg_quality"])
    return Degraded(out, matrix, params)


def photo_profile(
    image: np.ndarray, rng: random.Random, severity: float = 1.0, *,
    out_long_side: int = 1600, margin: float = 0.08, overrides: dict[str, Any] | None = None,
) -> Degraded:
    """A phone photo of a page or card on a table: perspective, a table-top border, a shadow
    gradient, a warm colour cast, softness, sensor noise and JPEG. Returns BGR."""
    s = max(0.0, float(severity))
    jitter = [rng.uniform(-0.035, 0.035) * s for _ in range(8)]
    u_shadow, shadow_angle = rng.random(), rng.uniform(0, 360)
    cast = [rng.uniform(0.9, 1.0), rng.uniform(0.95, 1.0), rng.uniform(1.0, 1.05)]
    u_blur, u_noise, u_jpeg = rng.random(), rng.random(), rng.random()
    bg_seed, noise_seed = rng.getrandbits(63), rng.getrandbits(63)

    h, w = image.shape[:2]
    scale = out_long_side / max(h, w)
    out_size = (round(w * scale), round(h * scale))
    background = table_background(out_size, rng, bg_seed)
    params: dict[str, Any] = {
        "profile": "photo",
        "severity": _r(s),
        "perspective_jitter": [_r(v) for v in jitter],
        "frame_size": list(out_size),
        "margin": _r(margin),
        "shadow": _r(min(0.7, (0.15 + 0.25 * u_shadow) * s)),
        "shadow_angle": _r(shadow_angle),
        "colour_cast_bgr": [_r(v) for v in cast],
        "blur_sigma": _r((0.4 + 0.6 * u_blur) * s),
        "noise_std": _r((3.0 + 4.0 * u_noise) * s),
        "jpeg_quality": int(np.clip(round(100 - (12 + 15 * u_jpeg) * s), 5, 100)),
        "noise_seed": noise_seed,
    }
    params.update(overrides or {})
    src = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    out, matrix = perspective(src, params["perspective_jitter"], out_size, margin, background)
    out = _to_uint8(out * np.array(params["colour_cast_bgr"], dtype=np.float32))
    out = illumination(out, params["shadow"], params["shadow_angle"])
    out = blur(out, params["blur_sigma"])
    out = gaussian_noise(out, params["noise_std"], noise_seed)
    out = jpeg(out, params["jpeg_quality"])
    return Degraded(out, matrix, params)
