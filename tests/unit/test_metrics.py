"""Metric definitions checked against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from ocr_tasks.document import Line, box_polygon
from ocr_tasks.evaluation.metrics import (
    BagOfWordsF1,
    CropCER,
    DetectionMetric,
    EndToEndCER,
    align_lines_by_boxes,
    align_texts_by_order,
    aligned_cer_counts,
    average_precision,
    bag_of_words_f1,
    cer_counts,
    group_by_boxes,
    iou,
    iou_matrix,
    label_by_confidence,
    match_detections,
    micro_cer_interval,
)

A = (0, 0, 10, 10)
B = (20, 0, 30, 10)
C = (40, 0, 50, 10)


# --- geometry ---------------------------------------------------------------------------


def test_iou_known_values() -> None:
    assert iou(A, A) == 1.0
    assert iou(A, B) == 0.0
    assert iou(A, (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou(A, (10, 0, 20, 10)) == 0.0  # touching edges share no area
    assert iou(A, (3, 3, 3, 8)) == 0.0  # degenerate box
    m = iou_matrix([A, B], [(5, 0, 15, 10), B, (0, 0, 0, 0)])
    assert m.shape == (2, 3)
    assert m[0, 0] == pytest.approx(1 / 3) and m[1, 1] == 1.0 and m[1, 2] == 0.0


# --- detection --------------------------------------------------------------------------


def test_perfect_match_gives_hmean_one() -> None:
    metric = DetectionMetric()
    metric.update([A, B, C], [], [A, B, C], [0.9, 0.8, 0.7])
    s = metric.summary()
    assert (s["precision"], s["recall"], s["hmean"], s["ap"]) == (1.0, 1.0, 1.0, 1.0)


def test_one_missed_word() -> None:
    metric = DetectionMetric()
    m = metric.update([A, B, C], [], [A, B])
    assert (m.tp, m.fp, m.fn) == (2, 0, 1)
    assert m.unmatched_gt == (2,)
    s = metric.summary()
    assert s["precision"] == 1.0
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["hmean"] == pytest.approx(0.8)


def test_prediction_inside_dontcare_is_not_a_false_positive() -> None:
    logo = (100, 100, 200, 150)
    inside = (110, 110, 150, 140)  # wholly inside
    half = (150, 100, 250, 150)  # exactly half its area inside: still ignored
    mostly_out = (180, 100, 280, 150)  # 20 % inside: a false positive
    m = match_detections([A], [logo], [A, inside, half, mostly_out])
    assert m.tp == 1
    assert m.ignored_pred == (1, 2)
    assert m.unmatched_pred == (3,)
    assert m.fn == 0  # don't-care words are never missed


def test_matching_is_one_to_one_and_greedy_by_iou() -> None:
    # two predictions on one word: the better one matches, the other is a false positive
    m = match_detections([A], [], [(0, 0, 10, 12), (0, 0, 10, 10)])
    assert m.matches == ((0, 1, 1.0),)
    assert m.unmatched_pred == (0,)
    # p0 fits g1 best (IoU 1) although it also reaches g0 at IoU >= 0.5
    g0, g1 = (0, 0, 10, 10), (0, 0, 10, 8)
    p0, p1 = (0, 0, 10, 8), (0, 0, 10, 11)
    m = match_detections([g0, g1], [], [p0, p1])
    assert {(g, p) for g, p, _ in m.matches} == {(1, 0), (0, 1)}
    # below the threshold nothing matches
    m = match_detections([A], [], [(5, 0, 15, 10)])
    assert (m.tp, m.fp, m.fn) == (0, 1, 1)


def test_no_predictions_and_no_words() -> None:
    metric = DetectionMetric()
    metric.update([], [], [])
    assert metric.summary()["hmean"] == 1.0
    metric.reset()
    metric.update([A], [], [])
    s = metric.summary()
    assert (s["precision"], s["recall"], s["hmean"], s["ap"]) == (0.0, 0.0, 0.0, 0.0)


def test_average_precision_of_known_ranking() -> None:
    # TP, FP, TP out of 3 words: P=1 at R=1/3, P=2/3 at R=2/3 -> 1/3*1 + 1/3*2/3 = 5/9
    assert average_precision([0.9, 0.8, 0.7], [True, False, True], 3) == pytest.approx(5 / 9)
    # order comes from the scores, not from the list order
    assert average_precision([0.7, 0.8, 0.9], [True, False, True], 3) == pytest.approx(5 / 9)
    # FP ranked first: interpolated precision 1/2 over the whole recall range
    assert average_precision([0.9, 0.1], [False, True], 1) == pytest.approx(0.5)
    # FPs ranked below every TP do not cost anything
    assert average_precision([0.9, 0.8, 0.2, 0.1], [True, True, False, False], 2) == 1.0
    # interpolation: the later, higher precision lifts the dip (F T F T T, 3 words)
    ap = average_precision([5, 4, 3, 2, 1], [False, True, False, True, True], 3)
    assert ap == pytest.approx(1 / 3 * 3 / 5 * 3)
    assert average_precision([], [], 3) == 0.0


def test_detection_metric_ap_uses_confidence() -> None:
    confident_fp, shy_fp = DetectionMetric(), DetectionMetric()
    confident_fp.update([A, B], [], [A, B, C], [0.5, 0.4, 0.9])
    shy_fp.update([A, B], [], [A, B, C], [0.5, 0.4, 0.1])
    assert confident_fp.summary()["hmean"] == shy_fp.summary()["hmean"]
    assert shy_fp.summary()["ap"] == 1.0
    # ranking F T T over 2 words: P=1/2 at R=1/2 lifted to 2/3 by interpolation, P=2/3 at R=1
    assert confident_fp.summary()["ap"] == pytest.approx(2 / 3)


def test_ap_labels_follow_confidence_order() -> None:
    # both predictions fit A; the more confident one takes it, even with the lower IoU
    labels = label_by_confidence([A], [(100, 100, 110, 110)],
                                 [(0, 0, 10, 11), A, (101, 101, 109, 109)], [0.9, 0.3, 0.5])
    assert labels == [True, False, None]


# --- CER ----------------------------------------------------------------------------------


def test_cer_counts_known_strings() -> None:
    assert cer_counts("kitten", "sitting") == (3, 6)
    assert cer_counts("Total", "total") == (1, 5)  # case-sensitive
    assert cer_counts("abc", "") == (3, 3)
    assert cer_counts("", "xy") == (2, 0)


def test_crop_cer_is_micro_averaged() -> None:
    metric = CropCER()
    assert metric.update(["ab", "cdef"], ["ab", "cdxf"]) == (1, 6)
    assert metric.update(["gh"], ["g"]) == (1, 2)
    s = metric.summary()
    assert s["cer"] == pytest.approx(2 / 8)  # not the mean of 1/6 and 1/2
    assert s["word_accuracy"] == pytest.approx(1 / 3)
    assert len(s["cer_ci95"]) == 2
    with pytest.raises(ValueError):
        metric.update(["a"], [])
    metric.reset()
    assert metric.summary()["cer"] is None


def test_end_to_end_cer() -> None:
    metric = EndToEndCER()
    gt_boxes, gt_texts = [A, B, C], ["Date:", "1998", "Fax"]
    # A read with one error; B found twice (best IoU wins); C only at IoU 1/3: costs 3
    pred_boxes = [A, (20, 0, 30, 12), B, (45, 0, 55, 10)]
    pred_texts = ["Date;", "1990", "1998", "Fax"]
    assert metric.update(gt_boxes, gt_texts, pred_boxes, pred_texts) == (1 + 0 + 3, 12)
    assert metric.update([A], ["x"], [], []) == (1, 1)
    assert metric.summary()["cer"] == pytest.approx(5 / 13)


def test_end_to_end_merged_prediction_serves_two_words() -> None:
    metric = EndToEndCER()
    merged = (0, 0, 10, 20)
    gt = [(0, 0, 10, 12), (0, 8, 10, 20)]
    edits, chars = metric.update(gt, ["ab", "cd"], [merged], ["ab cd"])
    assert (edits, chars) == (3 + 3, 4)


# --- bag of words -------------------------------------------------------------------------


def test_bag_of_words_f1() -> None:
    assert bag_of_words_f1("a b c", "c b a") == 1.0  # order-free
    assert bag_of_words_f1("a b c", "a b d") == pytest.approx(2 / 3)
    # multisets: "a" twice in the reference, once predicted -> P=1, R=2/3
    assert bag_of_words_f1("a a b", "a b") == pytest.approx(0.8)
    assert bag_of_words_f1("a\nb  c", "a b\tc") == 1.0  # any whitespace splits
    assert bag_of_words_f1("Total", "total") == 0.0  # case-sensitive
    assert bag_of_words_f1("", "") == 1.0
    assert bag_of_words_f1("a", "") == 0.0
    assert bag_of_words_f1("", "a") == 0.0


def test_bag_of_words_metric_is_mean_over_pages() -> None:
    metric = BagOfWordsF1()
    metric.update("a b", "a b")
    metric.update("a b c", "a b d")
    assert metric.summary() == {"f1": pytest.approx((1 + 2 / 3) / 2), "pages": 2}


# --- interval -----------------------------------------------------------------------------


def test_micro_cer_interval() -> None:
    edits, chars = [1, 2, 0, 5, 3, 1], [10, 20, 10, 30, 25, 15]
    cer, low, high = micro_cer_interval(edits, chars)
    assert cer == pytest.approx(12 / 110)
    assert low < cer < high
    assert micro_cer_interval(edits, chars) == (cer, low, high)  # fixed seed
    n_cer, n_low, n_high = micro_cer_interval(edits, chars, method="normal")
    assert n_cer == cer and 0.0 <= n_low < cer < n_high
    # wider confidence, wider interval
    _, low99, high99 = micro_cer_interval(edits, chars, 0.99)
    assert low99 <= low and high99 >= high
    # every sample with the same rate: nothing to be unsure about
    assert micro_cer_interval([1, 2, 3], [10, 20, 30]) == pytest.approx((0.1, 0.1, 0.1))
    assert all(math.isnan(v) for v in micro_cer_interval([], []))
    with pytest.raises(ValueError):
        micro_cer_interval([1], [1, 2])


# --- alignment ----------------------------------------------------------------------------

LINES = [
    ("Invoice number 4711", (10, 10, 300, 30)),
    ("Date: 12 March 1998", (10, 40, 300, 60)),
    ("Total amount due 42.00", (10, 70, 300, 90)),
    ("Please pay within 30 days", (10, 100, 300, 120)),
]


def _cer(pairs: list[tuple[str, str]]) -> float:
    edits, chars = aligned_cer_counts(pairs)
    return edits / chars


def test_alignment_by_boxes_undoes_reading_order() -> None:
    shuffled = [LINES[2], LINES[0], LINES[3], LINES[1]]
    naive = _cer([("\n".join(t for t, _ in LINES), "\n".join(t for t, _ in shuffled))])
    pred = [Line(t, 0.9, box_polygon(b)) for t, b in shuffled]  # document.Line works too
    aligned = align_lines_by_boxes(LINES, pred)
    assert aligned == [(t, t) for t, _ in LINES]
    assert _cer(aligned) == 0.0 and naive > 0.5


def test_alignment_by_boxes_joins_split_lines_and_keeps_leftovers() -> None:
    pred = [
        ("42.00", (230, 70, 300, 90)),
        ("Total amount due", (10, 70, 200, 90)),
        ("Invoice number 4711", (10, 10, 300, 30)),
        ("stamp", (400, 400, 450, 420)),
    ]
    pairs = align_lines_by_boxes(LINES[:3], pred)
    assert pairs == [
        ("Invoice number 4711", "Invoice number 4711"),
        ("Date: 12 March 1998", ""),
        ("Total amount due 42.00", "Total amount due 42.00"),
        ("", "stamp"),
    ]


def test_group_by_boxes_is_the_one_assignment_rule() -> None:
    """What line alignment here and page scoring in quality.scoring both rest on."""
    gt = [b for _, b in LINES[:3]]
    pred = [
        (230, 70, 300, 90),  # right half of line 2
        (10, 70, 200, 90),  # left half of line 2
        (10, 10, 300, 45),  # line 0, reaching into line 1: the larger share wins
        (400, 400, 450, 420),  # nowhere
        None,  # no box: nowhere
        (10, 20, 300, 30),  # inside line 0
        (0, 0, 0, 0),  # degenerate: nowhere
    ]
    assert group_by_boxes(gt, pred) == ([[2, 5], [], [1, 0]], [3, 4, 6])
    # overlap is measured on the smaller box: a sliver covering 40 % of it lands nowhere
    assert group_by_boxes([(0, 0, 100, 10)], [(0, 6, 100, 16)]) == ([[]], [0])
    assert group_by_boxes([(0, 0, 100, 10)], [(0, 6, 100, 16)], min_overlap=0.4) == ([[0]], [])


def test_alignment_by_boxes_falls_back_to_text_without_boxes() -> None:
    gt = [("alpha beta", None), ("gamma delta", None)]
    assert align_lines_by_boxes(gt, [("gamma delta", A), ("alpha beta", B)]) == [
        ("alpha beta", "alpha beta"),
        ("gamma delta", "gamma delta"),
    ]


def test_alignment_by_text_gives_low_cer_where_concatenation_is_high() -> None:
    gt = [t for t, _ in LINES]
    pred = ["Total amount due 42.0O", "Please pay within 30 days", "lnvoice number 4711",
            "Date: 12 March 1998"]
    naive = _cer([("\n".join(gt), "\n".join(pred))])
    aligned = align_texts_by_order(gt, pred)
    assert [r for r, _ in aligned] == gt
    assert _cer(aligned) == pytest.approx(2 / sum(map(len, gt)))
    assert naive > 0.5


def test_alignment_by_text_rejoins_split_line_and_keeps_junk() -> None:
    gt = ["Total amount due 42.00", "Invoice number 4711"]
    pred = ["42.00", "Invoice number 4711", "Total amount due", "%%"]
    pairs = align_texts_by_order(gt, pred)
    assert pairs == [
        ("Total amount due 42.00", "Total amount due 42.00"),
        ("Invoice number 4711", "Invoice number 4711"),
        ("", "%%"),
    ]
    assert align_texts_by_order(["abc"], []) == [("abc", "")]
    assert align_texts_by_order([], ["abc"]) == [("", "abc")]
