"""Integer boxes for the XML exports: whole pixels that still hold the element's ink."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ocr_tasks.core.geometry import Box

IntBox = tuple[int, int, int, int]


def int_box(box: Box, width: int, height: int) -> IntBox:
    """Outward-rounded ``box`` clamped to the page, at least one pixel wide and high."""
    x0 = min(max(0, math.floor(box[0])), max(0, width - 1))
    y0 = min(max(0, math.floor(box[1])), max(0, height - 1))
    x1 = max(x0 + 1, min(width, math.ceil(box[2])))
    y1 = max(y0 + 1, min(height, math.ceil(box[3])))
    return x0, y0, x1, y1


def union(boxes: Iterable[IntBox]) -> IntBox:
    items = list(boxes)
    return (min(b[0] for b in items), min(b[1] for b in items),
            max(b[2] for b in items), max(b[3] for b in items))
