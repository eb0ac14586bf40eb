"""Image preparation: every geometric step must map its pixels back to the input frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr_tasks.engine import postprocess as post
from ocr_tasks.engine import preprocess as pre


def marked_image(h: int = 60, w: int = 100) -> tuple[np.ndarray, tuple[int, int]]:
    """White BGR image with one black pixel at a known (x, y)."""
    image = np.full((h, w, 3), 255, np.uint8)
    x, y = 70, 15
    image[y, x] = 0
    return image, (x, y)


def dark_pixel(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image.min(axis=2) < 128)
    return np.array([[xs.mean() + 0.5, ys.mean() + 0.5]], np.float32)


@pytest.mark.parametrize("clockwise", [0, 90, 180, 270])
def test_rotate90_maps_back_to_input(clockwise: int) -> None:
    image, (x, y) = marked_image()
    out, back = pre.rotate90(image, clockwise)
    if clockwise in (90, 270):
        assert out.shape[:2] == image.shape[1::-1][:2]
    np.testing.assert_allclose(post.map_points(back, dark_pixel(out)), [[x + 0.5, y + 0.5]])


def test_rotate_small_keeps_everything_and_maps_back() -> None:
    image, (x, y) = marked_image()
    image[y - 1 : y + 2, x - 1 : x + 2] = 0
    out, back = pre.rotate_small(image, 5.0)
    assert out.shape[0] > image.shape[0] and out.shape[1] > image.shape[1]
    np.testing.assert_allclose(
        post.map_points(back, dark_pixel(out)), [[x + 0.5, y + 0.5]], atol=0.6
    )


def test_resize_maps_back() -> None:
    image = np.zeros((50, 80, 3), np.uint8)
    out, back = pre.resize(image, 2.0)
    assert out.shape[:2] == (100, 160)
    np.testing.assert_allclose(
        post.map_points(back, np.array([[160, 100]], np.float32)), [[80, 50]]
    )


def test_scale_factor_upscales_low_dpi_and_caps_long_side() -> None:
    assert pre.scale_factor(800, 1000, 100, upscale_below_dpi=150, max_side=4000) == 1.5
    assert pre.scale_factor(800, 1000, 300, upscale_below_dpi=150, max_side=4000) == 1.0
    assert pre.scale_factor(800, 1000, 50, upscale_below_dpi=150, max_side=4000) == 2.0
    assert pre.scale_factor(3000, 4000, 300, upscale_below_dpi=150, max_side=2000) == 0.5
    assert pre.scale_factor(800, 1000, 100, upscale_below_dpi=0, max_side=4000) == 1.0


def test_unknown_dpi_is_guessed_from_a_letter_page() -> None:
    assert pre.effective_dpi(850, 1100, None) == pytest.approx(100.0)
    assert pre.effective_dpi(850, 1100, 300.0) == 300.0


def test_pad_to_multiple_of_32_keeps_origin() -> None:
    image = np.zeros((33, 64, 3), np.uint8)
    out = pre.pad_to_multiple(image)
    assert out.shape[:2] == (64, 64)
    assert out[:33].max() == 0 and out[33:].min() == 255


def test_to_bgr_accepts_gray_and_bgra() -> None:
    assert pre.to_bgr(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert pre.to_bgr(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)


def test_normalize_contrast_stretches_faded_ink() -> None:
    image = np.full((20, 20, 3), 200, np.uint8)
    image[5:15, 5:15] = 150
    out = pre.normalize_contrast(image)
    assert out.min() == 0 and out.max() == 255


def test_denoise_removes_specks() -> None:
    image = np.full((20, 20, 3), 255, np.uint8)
    image[10, 10] = 0
    assert pre.denoise(image).min() == 255


def test_an_unreadable_page_with_ink_is_not_a_confident_empty_page() -> None:
    from ocr_tasks.document import Page

    rng = np.random.default_rng(0)
    blank = np.clip(rng.normal(235, 8, (2339, 1654)), 0, 255).astype(np.uint8)
    tiny = blank.copy()
    cv2.putText(tiny, "Claim number CLM-2025-0417 insured Maria Keller", (100, 300),
                cv2.FONT_HERSHEY_SIMPLEX, 0.35, 0, 1)  # about 4-pt text at 200 dpi
    strip = blank.copy()
    strip[1000, :] = 0
    assert not pre.has_ink(blank) and pre.has_ink(tiny) and pre.has_ink(strip)
    assert Page(0, 10, 10, 200.0).confidence == 1.0  # blank: nothing to doubt
    unread = Page(0, 10, 10, 200.0, has_ink=True)
    assert unread.confidence == 0.0 and Page.from_dict(unread.to_dict()).has_ink
