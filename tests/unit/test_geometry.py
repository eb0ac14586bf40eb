"""Quarter turns: one direction convention for images, matrices and boxes."""

from __future__ import annotations

import numpy as np
import pytest

from ocr_tasks.core import geometry as g


def marked(h: int = 60, w: int = 100) -> tuple[np.ndarray, tuple[int, int]]:
    image = np.full((h, w), 255, np.uint8)
    image[15, 70] = 0  # pixel (x=70, y=15): its centre is (70.5, 15.5)
    return image, (70, 15)


def centre_of_dark(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(image < 128)
    return float(xs.mean() + 0.5), float(ys.mean() + 0.5)


@pytest.mark.parametrize("deg", [0, 90, 180, 270, -90, 450])
def test_image_turn_and_its_matrix_agree(deg: int) -> None:
    image, (x, y) = marked()
    out, forward = g.quarter_turn_image(image, deg)
    assert out.shape[::-1] == g.quarter_turned_size(deg, 100, 60)
    moved = forward @ [x + 0.5, y + 0.5, 1.0]
    assert centre_of_dark(out) == pytest.approx(tuple(moved[:2]))
    back = g.quarter_turn_back(deg, 100, 60)
    np.testing.assert_array_equal(back @ forward, np.eye(3))  # exact, no float inverse


def test_clockwise_means_clockwise_on_screen() -> None:
    # the top-left pixel of an upright page ends top-right after a clockwise quarter turn
    image = np.zeros((2, 3), np.uint8)
    image[0, 0] = 1
    out, _ = g.quarter_turn_image(image, 90)
    assert out.shape == (3, 2) and out[0, 1] == 1
    assert g.quarter_turn_box((0, 0, 1, 1), 90, 3, 2) == (1, 0, 2, 1)


def test_box_turns_round_trip_and_compose() -> None:
    box = (100.0, 50.0, 300.0, 80.0)
    assert g.quarter_turn_box(box, 90, 1000, 800) == (720, 100, 750, 300)
    there = g.quarter_turn_box(box, 90, 1000, 800)
    assert g.quarter_turn_box(there, -90, 800, 1000) == box
    twice = g.quarter_turn_box(g.quarter_turn_box(box, 90, 1000, 800), 90, 800, 1000)
    assert twice == g.quarter_turn_box(box, 180, 1000, 800)


def test_not_a_quarter_turn_is_refused() -> None:
    with pytest.raises(ValueError, match="quarter turn"):
        g.quarter_turns(45)


def test_transform_boxes_clips_only_when_asked() -> None:
    shift = np.array([[1, 0, -20], [0, 1, 0], [0, 0, 1]], float)
    assert g.transform_box((10, 0, 30, 5), shift) == (-10, 0, 10, 5)
    assert g.transform_box((10, 0, 30, 5), shift, clip_to=(100, 100)) == (0, 0, 10, 5)
    assert g.union_box([(0, 5, 1, 6), (2, 1, 3, 2)]) == (0, 1, 3, 6)


def test_turn_of_reads_the_quarter_turn_through_skew_and_scale() -> None:
    from ocr_tasks.core.geometry import quarter_turn_matrix, turn_of

    skew = np.array([[1.0, 0.05, 0.0], [-0.05, 1.0, 0.0], [0.0, 0.0, 1.0]])  # about 3 degrees
    scale = np.diag([0.5, 0.5, 1.0])
    for degrees in (0, 90, 180, 270):
        turn = quarter_turn_matrix(degrees, 300, 200)
        assert turn_of(scale @ turn @ skew, (150, 100)) == degrees
    assert turn_of(quarter_turn_matrix(-90, 300, 200), (150, 100)) == 270
