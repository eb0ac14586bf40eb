"""Score one recognized page against its truth, reading order aside, into ``cer_samples`` rows.

Page CER is not the edit distance between two page texts: a two-column form read in another
order would cost hundreds of edits for text recognized perfectly. Lines are aligned first:

* truth with boxes (FUNSD sidecars, canaries): truth segments on one baseline are joined
  into visual lines; every predicted line goes to the truth line it overlaps most (at least
  half of the smaller box), pieces of one line are joined left to right, and unmatched
  predictions cost their length (the method of ``metrics.align_lines_by_boxes``, keeping
  which prediction went where so that its confidence travels with it). Words are aligned
  the same way for the calibration table. All boxes are first turned into the upright frame
  of the page (``Page.rotation``), so that "left to right" and "baseline" hold on pages
  scanned sideways or upside down.
* text-only truth (``.gt.txt``): lines are paired by content (``metrics.align_texts_by_order``).

A page's edits are the sum over its aligned line pairs; its reference characters exclude
line breaks. One row per page (``level='page'``), per aligned line and per aligned word.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocr_tasks.core.geometry import Box, quarter_turn_box, union_box
from ocr_tasks.document import Page
from ocr_tasks.evaluation.metrics import align_texts_by_order, cer_counts, group_by_boxes
from ocr_tasks.lake.rows import CerSampleRow
from ocr_tasks.truth import Boxed, TruthPage

ROW_OVERLAP = 0.5  # vertical overlap (of the shorter box) that puts two segments on one line


@dataclass(frozen=True)
class Pair:
    """An aligned (reference, prediction) unit; confidence is the prediction's, if any."""

    reference: str
    prediction: str
    confidence: float | None = None

    @property
    def counts(self) -> tuple[int, int]:
        return cer_counts(self.reference, self.prediction)


@dataclass(frozen=True)
class Alignment:
    lines: list[Pair]
    words: list[Pair]
    method: str  # "boxes" or "content"


@dataclass(frozen=True)
class SampleContext:
    """What every row of one scored page carries."""

    run_id: str
    batch_id: str
    source: str  # canary | sidecar | audit
    doc_id: str
    page: int
    model_version: str
    created_at: datetime


def upright_box(box: Sequence[float], rotation: int, width: float, height: float) -> Box:
    """A box of the delivered page in the frame after the engine's clockwise ``rotation``."""
    return quarter_turn_box(box, rotation, width, height)


def baseline_slope(words: Sequence[Boxed]) -> float:
    """dy/dx of the text lines (scan skew), the median over neighbouring words of a line."""
    slopes = []
    for _, (x0, y0, x1, y1) in words:
        h = y1 - y0
        for _, (u0, v0, u1, v1) in words:
            if 0 <= u0 - x1 < 2 * h and min(y1, v1) - max(y0, v0) > 0.5 * min(h, v1 - v0):
                slopes.append(((v0 + v1) - (y0 + y1)) / max(1.0, (u0 + u1) - (x0 + x1)))
    return float(sorted(slopes)[len(slopes) // 2]) if slopes else 0.0


def visual_lines(segments: Sequence[Boxed], slope: float = 0.0) -> list[Boxed]:
    """Join upright segments that share a baseline (label and value, table cells) into
    lines, top to bottom, each read left to right: what a ``.gt.txt`` line holds.
    ``slope`` (see :func:`baseline_slope`) levels a skewed scan before comparing heights."""

    def level(box: Box) -> tuple[float, float]:
        shift = slope * (box[0] + box[2]) / 2
        return box[1] - shift, box[3] - shift

    rows: list[list[Boxed]] = []
    for seg in sorted(segments, key=lambda s: (sum(level(s[1])), s[1][0])):
        y0, y1 = level(seg[1])
        for row in rows:
            top = min(level(b)[0] for _, b in row)
            bottom = max(level(b)[1] for _, b in row)
            overlap = min(y1, bottom) - max(y0, top)
            if overlap > ROW_OVERLAP * min(y1 - y0, bottom - top):
                row.append(seg)
                break
        else:
            rows.append([seg])
    lines = []
    for row in sorted(rows, key=lambda r: min(level(b)[0] for _, b in r)):
        row.sort(key=lambda s: s[1][0])
        lines.append((" ".join(t for t, _ in row), union_box(b for _, b in row)))
    return lines


def _mean_confidence(parts: Sequence[tuple[str, float]]) -> float | None:
    chars = sum(len(t) for t, _ in parts)
    if not parts:
        return None
    if chars == 0:
        return sum(c for _, c in parts) / len(parts)
    return sum(c * len(t) for t, c in parts) / chars


def pair_by_boxes(truth: Sequence[Boxed], preds: Sequence[tuple[str, Box, float]]) -> list[Pair]:
    """Truth units in order with what landed on them (``metrics.group_by_boxes``), then
    unmatched predictions."""
    landed, leftovers = group_by_boxes([b for _, b in truth], [b for _, b, _ in preds])
    pairs = []
    for (text, _), group in zip(truth, landed, strict=True):
        parts = [preds[p] for p in group]
        pairs.append(Pair(text, " ".join(t for t, _, _ in parts),
                          _mean_confidence([(t, c) for t, _, c in parts])))
    return pairs + [Pair("", preds[p][0], preds[p][2]) for p in leftovers]


def align_page(truth: TruthPage, page: Page) -> Alignment:
    """Line and word pairs of one page (see the module docstring for the method)."""
    if not truth.has_boxes:
        by_text = {line.text: line.confidence for line in page.lines}
        pairs = align_texts_by_order(list(truth.lines), [line.text for line in page.lines])
        return Alignment([Pair(r, p, by_text.get(p)) for r, p in pairs], [], "content")

    def up(box: Sequence[float]) -> Box:
        return upright_box(box, page.rotation, page.width, page.height)

    words = [(t, up(b)) for t, b in truth.counted_words]
    lines = visual_lines([(t, up(b)) for t, b in truth.boxed_segments], baseline_slope(words))
    pred_lines = [(ln.text, up(ln.box), ln.confidence) for ln in page.lines]
    pred_words = [(w.text, up(w.box), w.confidence) for w in page.words]
    return Alignment(pair_by_boxes(lines, pred_lines), pair_by_boxes(words, pred_words), "boxes")


def sample_id(ctx: SampleContext, level: str, index: int) -> str:
    """Stable across re-runs of the batch, so a retried batch rewrites the same samples."""
    key = f"{ctx.batch_id}\0{ctx.source}\0{ctx.doc_id}\0{ctx.page}\0{level}\0{index}"
    return "s" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _row(ctx: SampleContext, level: str, index: int, ref: str, pred: str, edits: int,
         chars: int, confidence: float | None) -> dict[str, Any]:
    return CerSampleRow(
        sample_id(ctx, level, index), ctx.run_id, ctx.batch_id, ctx.source, ctx.doc_id, ctx.page,
        level, ref, pred, edits, chars, edits / chars if chars else None, confidence,
        ctx.model_version, ctx.created_at,
    ).to_dict()


def sample_rows(ctx: SampleContext, truth: TruthPage, page: Page) -> list[dict[str, Any]]:
    """``cer_samples`` rows of one page: the page row first, then its lines and words."""
    aligned = align_page(truth, page)
    rows = []
    edits = chars = 0
    for level, pairs in (("line", aligned.lines), ("word", aligned.words)):
        for i, pair in enumerate(pairs):
            e, c = pair.counts
            rows.append(_row(ctx, level, i, pair.reference, pair.prediction, e, c, pair.confidence))
            if level == "line":
                edits, chars = edits + e, chars + c
    reference = "\n".join(p.reference for p in aligned.lines if p.reference)
    prediction = "\n".join(p.prediction for p in aligned.lines if p.prediction)
    page_row = _row(ctx, "page", 0, reference, prediction, edits, chars, page.confidence)
    return [page_row, *rows]
