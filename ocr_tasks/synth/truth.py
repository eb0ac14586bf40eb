"""Ground truth of a rendered page: words and text segments with pixel boxes.

A segment is one FUNSD form entry (a field label, a value, a table cell or one line of a
paragraph). Segments drawn on the same baseline form a visual line; page text is those lines
top to bottom, which is what an OCR engine reading the page should return. Geometric
degradations move the pixels, so ``transformed`` moves every box with them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ocr_tasks.document import Box

FUNSD_LABELS = ("header", "question", "answer", "other")


@dataclass(frozen=True)
class WordTruth:
    text: str
    box: Box


@dataclass(frozen=True)
class Segment:
    """One FUNSD entry; ``row`` groups segments on the same visual line (reading order)."""

    id: int
    text: str
    box: Box
    words: tuple[WordTruth, ...]
    label: str
    row: int


def union_box(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes), min(b[1] for b in boxes),
        max(b[2] for b in boxes), max(b[3] for b in boxes),
    )


def _round_box(box: Box) -> list[int]:
    """FUNSD stores integer pixel boxes; round outwards so the box still holds the ink."""
    x0, y0, x1, y1 = box
    return [int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))]


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map each (x0, y0, x1, y1) row's four corners through a 3x3 homography and take the
    axis-aligned bounds, clipped to the image."""
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    xs = b[:, [0, 2, 2, 0]]
    ys = b[:, [1, 1, 3, 3]]
    pts = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ matrix.T  # (n, 4, 3)
    px, py = pts[..., 0] / pts[..., 2], pts[..., 1] / pts[..., 2]
    out = np.stack([px.min(1), py.min(1), px.max(1), py.max(1)], axis=1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def transform_box(box: Box, matrix: np.ndarray, width: int, height: int) -> Box:
    x0, y0, x1, y1 = transform_boxes(np.array([box]), matrix, width, height)[0].tolist()
    return (x0, y0, x1, y1)


@dataclass(frozen=True)
class PageTruth:
    """Everything a page says, in the pixel frame of its image."""

    width: int
    height: int
    segments: tuple[Segment, ...]
    links: tuple[tuple[int, int], ...] = ()

    def lines(self) -> list[tuple[str, Box]]:
        """Visual lines in reading order: segments of one row joined left to right."""
        rows: dict[int, list[Segment]] = {}
        for seg in self.segments:
            rows.setdefault(seg.row, []).append(seg)
        out = []
        for row in sorted(rows, key=lambda r: min(s.id for s in rows[r])):
            segs = sorted(rows[row], key=lambda s: s.box[0])
            out.append((" ".join(s.text for s in segs), union_box([s.box for s in segs])))
        return out

    def words(self) -> list[tuple[str, Box]]:
        """Words in reading order (line by line, left to right)."""
        rows: dict[int, list[Segment]] = {}
        for seg in self.segments:
            rows.setdefault(seg.row, []).append(seg)
        out: list[tuple[str, Box]] = []
        for row in sorted(rows, key=lambda r: min(s.id for s in rows[r])):
            for seg in sorted(rows[row], key=lambda s: s.box[0]):
                out.extend((w.text, w.box) for w in seg.words)
        return out

    @property
    def text(self) -> str:
        return "\n".join(text for text, _ in self.lines())

    def to_funsd(self) -> dict[str, Any]:
        """The FUNSD annotation dict (``{"form": [...]}``) with question->answer links."""
        linked: dict[int, list[list[int]]] = {}
        for q, a in self.links:
            linked.setdefault(q, []).append([q, a])
            linked.setdefault(a, []).append([q, a])
        return {
            "form": [
                {
                    "box": _round_box(s.box),
                    "text": s.text,
                    "label": s.label,
                    "words": [{"box": _round_box(w.box), "text": w.text} for w in s.words],
                    "id": s.id,
                    "linking": linked.get(s.id, []),
                }
                for s in self.segments
            ]
        }

    def transformed(self, matrix: np.ndarray, width: int, height: int) -> PageTruth:
        """The same truth after the page pixels went through ``matrix`` into a width x height
        image (rotation, skew, perspective, scaling)."""

        boxes = [s.box for s in self.segments] + [w.box for s in self.segments for w in s.words]
        moved = iter(
            tuple(row) for row in transform_boxes(np.array(boxes), matrix, width, height).tolist()
        )
        seg_boxes = [next(moved) for _ in self.segments]
        segments = tuple(
            replace(s, box=box, words=tuple(WordTruth(w.text, next(moved)) for w in s.words))
            for s, box in zip(self.segments, seg_boxes, strict=True)
        )
        return replace(self, width=width, height=height, segments=segments)
