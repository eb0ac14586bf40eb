"""Page image preparation: colour, contrast, noise, scale, rotation.

Every geometric step returns the 3x3 matrix mapping its output pixels back to its input
pixels, so the engine can report boxes in the frame of the image as delivered.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr_tasks.core import geometry

DET_MULTIPLE = 32  # detector input sides must be multiples of 32
ASSUMED_PAGE_INCHES = 11.0  # long side of a letter page: guesses dpi of images without one


def to_bgr(image: np.ndarray) -> np.ndarray:
    """HxW gray, HxWx3 BGR or HxWx4 BGRA -> HxWx3 uint8 BGR (the networks' input order)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def normalize_contrast(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Gray with its 1st..99th percentile stretched to 0..255: faded scans get black ink."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    lo, hi = np.percentile(gray, [low, high])
    if hi - lo < 1:
        return image
    stretched = np.clip(np.rint((gray.astype(np.float32) - lo) * (255.0 / (hi - lo))), 0, 255)
    return cv2.cvtColor(stretched.astype(np.uint8), cv2.COLOR_GRAY2BGR)


def denoise(image: np.ndarray) -> np.ndarray:
    """3x3 median: removes salt-and-pepper speckle from fax-like scans, keeps strokes."""
    return cv2.medianBlur(image, 3)


def effective_dpi(width: int, height: int, dpi: float | None) -> float:
    """The stated dpi, else a guess assuming the image shows a whole letter-size page."""
    if dpi:
        return float(dpi)
    return max(width, height) / ASSUMED_PAGE_INCHES


def scale_factor(
    width: int, height: int, dpi: float | None, *, upscale_below_dpi: int, max_side: int
) -> float:
    """Upscale low-resolution scans to ``upscale_below_dpi`` (at most 2x; small text is
    missed by the detector), then cap the long side at ``max_side`` (time and memory)."""
    scale = 1.0
    page_dpi = effective_dpi(width, height, dpi)
    if upscale_below_dpi and page_dpi < upscale_below_dpi:
        scale = min(2.0, upscale_below_dpi / page_dpi)
    if max_side and max(width, height) * scale > max_side:
        scale = max_side / max(width, height)
    return scale


def resize(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Scaled image and the matrix mapping its pixels back to the input's."""
    if scale == 1.0:
        return image, np.eye(3)
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    out = cv2.resize(image, size, interpolation=interp)
    back = np.diag([w / size[0], h / size[1], 1.0])
    return out, back


def rotate90(image: np.ndarray, clockwise: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn by 0/90/180/270 degrees clockwise (``core.geometry`` conventions); the matrix maps
    output pixels back to input pixels, as every step here does."""
    out, _ = geometry.quarter_turn_image(image, clockwise)
    h, w = image.shape[:2]
    return out, geometry.quarter_turn_back(clockwise, w, h)


def rotate_small(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by ``angle`` degrees counter-clockwise on an enlarged white canvas (nothing is
    cut off); matrix maps output pixels to input pixels."""
    h, w = image.shape[:2]
    forward = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    new_w, new_h = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    forward[0, 2] += new_w / 2 - w / 2
    forward[1, 2] += new_h / 2 - h / 2
    out = cv2.warpAffine(
        image, forward, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255)
    )
    return out, np.linalg.inv(np.vstack([forward, [0, 0, 1]]))


def pad_to_multiple(image: np.ndarray, multiple: int = DET_MULTIPLE) -> np.ndarray:
    """Pad right and bottom with white so both sides are multiples of ``multiple``; the
    origin stays put, so detector coordinates need no correction."""
    h, w = image.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return image
    return cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(255, 255, 255))


INK_LEVEL = 128  # a pixel darker than this is a mark on the page
INK_FRACTION = 5e-5  # ... and a page with this share of such pixels has something on it


def has_ink(image: np.ndarray) -> bool:
    """Whether a page carries marks. A fixed dark level, not Otsu: on a blank scan Otsu splits
    paper noise in two and would call half of it ink. Measured on a 200-dpi A4 page with
    scanner noise (sd 8 around 235): blank 0; one line of 4-pt text 1.4e-4; a 1-pixel rule
    across the page 4.3e-4; a few specks of dust stay below 5e-5 (~190 pixels)."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return bool(np.count_nonzero(gray < INK_LEVEL) >= INK_FRACTION * gray.size)
