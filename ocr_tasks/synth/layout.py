"""A drawing surface that records the ground truth of everything written on it.

Layout code places text by baseline in pixels; the canvas draws it with PIL and remembers
each word's ink box, so ground truth can never drift from the pixels. Lines, boxes, check
boxes and signatures are drawn as plain ink without text. A rubber stamp is slanted text no
upright word box describes, so it is recorded as a don't-care region (a word without text),
which training and scoring ignore.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr_tasks.core.geometry import Box, boxes_overlap, union_box
from ocr_tasks.synth.fonts import FontRef, load_font
from ocr_tasks.truth import TruthPage, TruthSegment, TruthWord

PAPER_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "Letter": (215.9, 279.4),
    "ID-1": (85.6, 53.98),  # ISO/IEC 7810 card, e.g. identity cards and driving licences
}

Color = tuple[int, int, int]
INK: Color = (20, 20, 24)
BLUE_INK: Color = (25, 45, 120)
STAMP_INKS: tuple[Color, ...] = ((190, 30, 40), (40, 60, 170), (30, 120, 60))


def mm_to_px(mm: float, dpi: float) -> int:
    return int(round(mm / 25.4 * dpi))


def pt_to_px(pt: float, dpi: float) -> int:
    """Font size in pixels for a point size (1 pt = 1/72 inch)."""
    return max(1, int(round(pt * dpi / 72.0)))


def paper_size_px(paper: str, dpi: float, landscape: bool = False) -> tuple[int, int]:
    w, h = PAPER_MM[paper]
    size = (mm_to_px(w, dpi), mm_to_px(h, dpi))
    return (size[1], size[0]) if landscape else size


@dataclass(frozen=True)
class Style:
    """A font face at a pixel size and colour."""

    font: FontRef
    size_px: int
    color: Color = INK


class Canvas:
    """An RGB page; ``text`` draws and records, ``truth()`` returns what was recorded."""

    def __init__(
        self, width: int, height: int, dpi: float, background: Color = (255, 255, 255)
    ) -> None:
        self.width, self.height, self.dpi = width, height, dpi
        self.image = Image.new("RGB", (width, height), background)
        self.draw = ImageDraw.Draw(self.image)
        self._segments: list[TruthSegment] = []
        self._links: list[tuple[int, int]] = []
        self._rows: dict[int, int] = {}

    # --- measuring -------------------------------------------------------------------------
    def mm(self, v: float) -> int:
        return mm_to_px(v, self.dpi)

    def text_width(self, text: str, style: Style) -> float:
        return float(load_font(style.font, style.size_px).getlength(text))

    def wrap(self, text: str, style: Style, max_width: float) -> list[str]:
        """Greedy word wrap to ``max_width`` pixels."""
        lines: list[str] = []
        current = ""
        for word in text.split():
            trial = f"{current} {word}" if current else word
            if current and self.text_width(trial, style) > max_width:
                lines.append(current)
                current = word
            else:
                current = trial
        if current:
            lines.append(current)
        return lines

    # --- text with ground truth ---------------------------------------------------------------
    def text(
        self, x: float, baseline: float, text: str, style: Style, *, label: str = "other",
        align: str = "left",
    ) -> int:
        """Draw one segment with its left (or right, for ``align="right"``) edge at x and its
        baseline at ``baseline``; returns the FUNSD id. Segments sharing a baseline are one
        visual line in the page text."""
        font = load_font(style.font, style.size_px)
        text = " ".join(text.split())
        if align == "right":
            x -= font.getlength(text)
        x, baseline = round(x), round(baseline)
        self.draw.text((x, baseline), text, font=font, fill=style.color, anchor="ls")
        words: list[TruthWord] = []
        start = 0
        for word in text.split(" "):
            offset = font.getlength(text[:start])
            left, top, right, bottom = font.getbbox(word, anchor="ls")
            words.append(
                TruthWord(word, (x + offset + left - 1, baseline + top - 1,
                                 x + offset + right + 1, baseline + bottom + 1))
            )
            start += len(word) + 1
        seg_id = len(self._segments)
        row = self._rows.setdefault(int(baseline), len(self._rows))
        self._segments.append(
            TruthSegment(text, union_box(w.box for w in words), tuple(words), label, seg_id, row)
        )
        return seg_id

    def field(
        self, x: float, baseline: float, label: str, value: str, label_style: Style,
        value_style: Style, value_x: float | None = None,
    ) -> float:
        """A form field: a question and its linked answer on one line; returns the x after
        the value."""
        q = self.text(x, baseline, label, label_style, label="question")
        vx = value_x if value_x is not None else x + self.text_width(label + "  ", label_style)
        a = self.text(vx, baseline, value, value_style, label="answer")
        self.link(q, a)
        return vx + self.text_width(value, value_style)

    def link(self, question_id: int, answer_id: int) -> None:
        """Record a FUNSD question -> answer link."""
        self._links.append((question_id, answer_id))

    def paragraph(
        self, x: float, baseline: float, text: str, style: Style, max_width: float,
        leading: float,
    ) -> float:
        """Wrapped text, one segment per line; returns the baseline after the last line."""
        for line in self.wrap(text, style, max_width):
            self.text(x, baseline, line, style)
            baseline += leading
        return baseline

    # --- plain ink --------------------------------------------------------------------------
    def rect(self, box: Box, *, outline: Color | None = INK, fill: Color | None = None,
             width: int = 1) -> None:
        self.draw.rectangle([round(v) for v in box], outline=outline, fill=fill, width=width)

    def hline(self, x0: float, x1: float, y: float, *, width: int = 1, color: Color = INK) -> None:
        self.draw.line([(round(x0), round(y)), (round(x1), round(y))], fill=color, width=width)

    def vline(self, x: float, y0: float, y1: float, *, width: int = 1, color: Color = INK) -> None:
        self.draw.line([(round(x), round(y0)), (round(x), round(y1))], fill=color, width=width)

    def checkbox(self, x: float, baseline: float, size: int, checked: bool) -> None:
        """A ☐/☒ box drawn as lines (fonts render those glyphs inconsistently)."""
        x0, y1 = round(x), round(baseline)
        x1, y0 = x0 + size, y1 - size
        width = max(1, size // 10)
        self.rect((x0, y0, x1, y1), width=width)
        if checked:
            pad = max(2, size // 5)
            self.draw.line([(x0 + pad, y0 + pad), (x1 - pad, y1 - pad)], fill=BLUE_INK,
                           width=width + 1)
            self.draw.line([(x0 + pad, y1 - pad), (x1 - pad, y0 + pad)], fill=BLUE_INK,
                           width=width + 1)

    def signature(self, box: Box, rng: random.Random) -> None:
        """A pen scribble inside ``box``: ink an OCR engine should ignore (no ground truth)."""
        x0, y0, x1, y1 = box
        n = 48
        phase, freq = rng.uniform(0, 6.28), rng.uniform(2.5, 4.5)
        t = np.linspace(0, 1, n)
        w, h = x1 - x0, y1 - y0
        xs = x0 + w * (0.04 + 0.92 * t) + w * 0.03 * np.sin(t * freq * 9 + phase)
        ys = y0 + h * (0.5 + 0.45 * np.sin(t * freq * 6.28 + phase) * (1 - 0.4 * t))
        pen = max(2, int(self.dpi / 100))
        self.draw.line(list(zip(xs.round().tolist(), ys.round().tolist(), strict=True)),
                       fill=BLUE_INK, width=pen, joint="curve")

    def photo_placeholder(self, box: Box, rng: random.Random) -> None:
        """A greyish portrait silhouette for ID cards."""
        x0, y0, x1, y1 = box
        tone = rng.randint(170, 210)
        self.rect(box, fill=(tone, tone + 5, tone + 12), outline=None)
        cx, w, h = (x0 + x1) / 2, x1 - x0, y1 - y0
        dark = (tone - 90, tone - 85, tone - 80)
        self.draw.ellipse([cx - w * 0.2, y0 + h * 0.18, cx + w * 0.2, y0 + h * 0.55], fill=dark)
        top = y0 + h * 0.62
        self.draw.chord([cx - w * 0.38, top, cx + w * 0.38, top + 2 * (y1 - top)], 180, 360,
                        fill=dark)
        self.rect(box, outline=(120, 120, 120))

    def dontcare(self, box: Box, label: str = "other") -> None:
        """Record ink that is no text to read (a stamp): a segment with one empty word."""
        seg_id = len(self._segments)
        self._segments.append(TruthSegment("", box, (TruthWord("", box),), label, seg_id))

    def free_spot(self, size: tuple[float, float], rng: random.Random, margin: float,
                  tries: int = 40) -> Box | None:
        """A ``size`` box inside the page margins that touches no recorded segment (None when
        ``tries`` random places all do): where a stamp hides no labelled word."""
        w, h = size
        if w > self.width - 2 * margin or h > self.height - 2 * margin:
            return None
        taken = [s.box for s in self._segments]
        for _ in range(tries):
            x = rng.uniform(margin, self.width - margin - w)
            y = rng.uniform(margin, self.height - margin - h)
            box = (x, y, x + w, y + h)
            if not any(boxes_overlap(box, t) for t in taken):
                return box
        return None

    def stamp(self, lines: list[str], style: Style, angle_deg: float, rng: random.Random,
              opacity: float = 0.85) -> Box | None:
        """A framed rubber stamp (``lines`` centred), turned by ``angle_deg`` and inked at
        ``opacity``, put where it covers no labelled text; recorded as don't-care. Returns
        its box, or None when the page has no free spot for it."""
        font = load_font(style.font, style.size_px)
        pad, lead = style.size_px // 2, round(style.size_px * 1.25)
        w = round(max(font.getlength(t) for t in lines) + 2 * pad)
        h = lead * len(lines) + 2 * pad
        layer = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(layer)
        d.rectangle([1, 1, w - 2, h - 2], outline=255, width=max(2, style.size_px // 9))
        for i, text in enumerate(lines):
            d.text((w / 2, pad + lead * i + round(lead * 0.8)), text, font=font, fill=255,
                   anchor="ms")
        turned = layer.rotate(angle_deg, resample=Image.Resampling.BILINEAR, expand=True)
        spot = self.free_spot(turned.size, rng, margin=self.mm(6))
        if spot is None:
            return None
        x0, y0 = round(spot[0]), round(spot[1])
        mask = turned.point(lambda v: round(v * opacity))
        self.image.paste(Image.new("RGB", turned.size, style.color), (x0, y0), mask)
        box = (x0, y0, x0 + turned.width, y0 + turned.height)
        self.dontcare(box)
        return box

    # --- result -----------------------------------------------------------------------------
    def truth(self) -> TruthPage:
        return TruthPage(segments=tuple(self._segments), width=self.width, height=self.height,
                         links=tuple(self._links))

    def pixels(self) -> np.ndarray:
        """The page as HxWx3 uint8 BGR (OpenCV order, as ``PageImage`` expects)."""
        return cv2.cvtColor(np.asarray(self.image), cv2.COLOR_RGB2BGR)
