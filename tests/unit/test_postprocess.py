"""DB boxes, crops, CTC decoding, word splitting and reading order on synthetic arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr_tasks.engine import postprocess as post

CHARSET = ["<blank>", "a", "b", "c", "-", " "]
BLANK, A, B, C, DASH, SPACE = range(6)


def one_hot(classes: list[int], peak: float = 0.9) -> np.ndarray:
    """TxC probabilities with ``peak`` on each step's class."""
    probs = np.full((len(classes), len(CHARSET)), (1 - peak) / (len(CHARSET) - 1), np.float32)
    probs[np.arange(len(classes)), classes] = peak
    return probs


def test_ctc_collapses_repeats_and_drops_blanks() -> None:
    dec = post.ctc_greedy_decode(one_hot([A, A, BLANK, A, B, B, BLANK, C]), CHARSET)
    assert dec.text == "aabc"
    assert dec.steps == (0, 3, 4, 7)


def test_ctc_reports_per_character_confidence() -> None:
    probs = one_hot([A, BLANK, B])
    probs[2] = 0.0
    probs[2, B] = 0.6
    dec = post.ctc_greedy_decode(probs, CHARSET)
    assert dec.confidences == pytest.approx((0.9, 0.6))
    assert dec.confidence == pytest.approx(0.75)


def test_ctc_ignores_padding_steps() -> None:
    dec = post.ctc_greedy_decode(one_hot([A, BLANK, B, C]), CHARSET, valid_steps=3)
    assert dec.text == "ab"


def test_words_split_at_spaces_with_ranges_from_steps() -> None:
    dec = post.Decoded("ab c", (0.9, 0.8, 0.9, 0.7), (1, 3, 5, 7))
    words = post.split_words(dec, step_width=8.0, crop_width=80.0, spike_offset=0.5)
    assert [w.text for w in words] == ["ab", "c"]
    assert words[0].first == 12.0 and words[0].last == 28.0
    assert words[1].first == words[1].last == 60.0
    assert words[0].hi == words[1].lo == 44.0
    assert words[1].confidence == pytest.approx(0.7)


def test_words_split_after_hyphen_and_slash_like_funsd() -> None:
    text = "9/3/92 HLB-KS a - b"
    dec = post.Decoded(text, (1.0,) * len(text), tuple(range(len(text))))
    words = [w.text for w in post.split_words(dec, 8.0, 200.0)]
    assert words == ["9/", "3/", "92", "HLB-", "KS", "a", "-", "b"]


def test_word_box_hugs_ink_between_neighbours() -> None:
    ink = np.zeros((40, 100), np.uint8)
    ink[12:28, 10:30] = 1  # first word
    ink[10:30, 40:70] = 1  # second word, taller
    ink[35, :] = 1  # an underline across the line: not text
    ink = post.ink_mask(np.where(ink > 0, 0, 255).astype(np.uint8))
    span = post.WordSpan("xy", 1.0, first=45.0, last=65.0, pitch=10.0, lo=35.0, hi=100.0)
    box = post.fit_word_box(ink, span, margin_x=0.0, margin_y=0.0)
    assert box == (40.0, 10.0, 70.0, 30.0)


def test_db_boxes_find_rotated_text_region() -> None:
    prob = np.zeros((100, 200), np.float32)
    rect = ((100, 50), (120, 16), 10.0)
    cv2.fillPoly(prob, [cv2.boxPoints(rect).astype(np.int32)], 0.9)
    boxes = post.db_boxes(prob)
    assert len(boxes) == 1
    quad, score = boxes[0]
    assert score > 0.8
    w, h = post.quad_size(quad)
    assert w > 120 and h > 16  # unclipped beyond the shrunk kernel
    assert post.quad_angle(quad) == pytest.approx(10.0, abs=1.5)


def test_crop_quad_straightens_and_maps_back() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)
    quad = np.array([[20, 30], [120, 40], [118, 60], [18, 50]], np.float32)
    crop = post.crop_quad(image, quad)
    h, w = crop.image.shape[:2]
    assert w > 90 and 15 < h < 25
    back = post.map_points(crop.to_source, np.array([[0, 0], [w, h]], np.float32))
    np.testing.assert_allclose(back, quad[[0, 2]], atol=1.0)


def test_rec_batch_keeps_aspect_and_pads_gray() -> None:
    crops = [np.zeros((24, 48, 3), np.uint8), np.zeros((48, 200, 3), np.uint8)]
    batch, widths = post.rec_batch(crops)
    assert batch.shape == (2, 3, 48, 200)
    assert widths == [96, 200]
    assert batch[0, :, :, :96].min() == -1.0 and batch[0, :, :, 96:].max() == 0.0


def test_rec_widths_come_from_a_short_ladder_with_little_padding() -> None:
    ladder = post.REC_WIDTH_LADDER
    assert len(ladder) < 50 and list(ladder) == sorted(set(ladder))
    assert all(w % post.REC_STRIDE == 0 for w in ladder)
    for width in range(post.REC_STRIDE, ladder[-1] + 1, post.REC_STRIDE):
        padded = post.rec_padded_width(width)
        assert padded in ladder and padded >= width
        assert padded - width <= max(24, 0.14 * width)  # 32 px at least, then ~10 %
    beyond = ladder[-1] + 1
    assert post.rec_padded_width(beyond) % post.REC_WIDTH_BEYOND == 0
    assert post.rec_padded_width(beyond) >= beyond


def test_laddered_rec_batch_pads_to_the_ladder_and_keeps_each_crop() -> None:
    crops = [np.zeros((24, 48, 3), np.uint8), np.zeros((48, 200, 3), np.uint8)]
    tight, widths = post.rec_batch(crops)
    padded, same = post.rec_batch(crops, laddered=True)
    assert same == widths and padded.shape == (2, 3, 48, post.rec_padded_width(200)) != tight.shape
    np.testing.assert_array_equal(padded[:, :, :, :200], tight)
    assert padded[:, :, :, 200:].max() == 0.0  # mid gray, as the batch's own padding


def test_reading_order_rows_top_to_bottom_left_to_right() -> None:
    boxes = [(300, 52, 400, 70), (10, 10, 100, 30), (10, 50, 100, 70), (150, 12, 250, 29)]
    assert post.reading_order(boxes) == [1, 3, 2, 0]


def test_reading_order_two_columns() -> None:
    left = [(10, 10 + 30 * i, 190, 30 + 30 * i) for i in range(4)]
    right = [(300, 10 + 30 * i, 480, 30 + 30 * i) for i in range(4)]
    boxes = [b for pair in zip(right, left, strict=True) for b in pair]  # interleaved
    order = post.reading_order(boxes)
    assert [boxes[i] for i in order] == left + right


def test_order_quad_is_clockwise_from_top_left() -> None:
    pts = np.array([[10, 20], [0, 0], [10, 0], [0, 20]], np.float32)
    np.testing.assert_array_equal(post.order_quad(pts), [[0, 0], [10, 0], [10, 20], [0, 20]])
