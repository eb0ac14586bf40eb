"""How far the engine's confidence can be trusted: confidence bins against observed errors.

Built from ``cer_samples``: word rows (word confidence vs. word errors) and page rows (page
confidence vs. page CER). ``review_threshold`` turns the page table into the
``OCR_REVIEW_CONFIDENCE`` setting: the lowest confidence above which accepted pages meet a
target CER, so that only pages below it go to human review.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

BINS: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0)


@dataclass(frozen=True)
class CalibrationBin:
    """Samples whose confidence lies in [low, high) (the last bin includes 1.0)."""

    low: float
    high: float
    samples: int
    wrong: int  # samples whose prediction differs from the reference
    edits: int
    ref_chars: int
    mean_confidence: float | None

    @property
    def cer(self) -> float | None:
        return self.edits / self.ref_chars if self.ref_chars else None

    @property
    def error_rate(self) -> float | None:
        return self.wrong / self.samples if self.samples else None


def _bin_index(confidence: float, bins: Sequence[float]) -> int:
    for i in range(len(bins) - 2, -1, -1):
        if confidence >= bins[i]:
            return i
    return 0


def calibration_table(rows: Iterable[dict[str, Any]], level: str,
                      bins: Sequence[float] = BINS) -> list[CalibrationBin]:
    """One bin per confidence interval for the ``level`` rows that carry a confidence
    (a truth word the engine missed has none: it shows in the CER, not here)."""
    acc = [[0, 0, 0, 0, 0.0] for _ in range(len(bins) - 1)]
    for row in rows:
        conf = row.get("confidence")
        if row["level"] != level or conf is None or conf != conf:  # None or NaN
            continue
        a = acc[_bin_index(float(conf), bins)]
        a[0] += 1
        a[1] += int(row["reference"] != row["prediction"])
        a[2] += int(row["edits"])
        a[3] += int(row["ref_chars"])
        a[4] += float(conf)
    return [CalibrationBin(bins[i], bins[i + 1], n, wrong, edits, chars, total / n if n else None)
            for i, (n, wrong, edits, chars, total) in enumerate(acc)]


def review_threshold(rows: Iterable[dict[str, Any]], target_cer: float) -> tuple[float, float] | None:
    """(threshold, share of pages flagged): the lowest page confidence such that the pages
    at or above it have a micro CER of at most ``target_cer``. None without page samples or
    when even the most confident pages miss the target."""
    pages = sorted(((float(r["confidence"]), int(r["edits"]), int(r["ref_chars"]))
                    for r in rows if r["level"] == "page" and r.get("confidence") is not None
                    and r["ref_chars"]), reverse=True)
    best = None
    edits = chars = 0
    for n, (conf, e, c) in enumerate(pages, start=1):
        edits, chars = edits + e, chars + c
        next_conf = pages[n][0] if n < len(pages) else None
        if next_conf == conf:
            continue  # a threshold cannot split pages of equal confidence
        if edits / chars <= target_cer:
            best = (conf, 1 - n / len(pages))
    return best


def format_table(table: list[CalibrationBin], title: str) -> str:
    """A fixed-width table for the terminal (and the README)."""
    lines = [title, f"{'confidence':>13} {'n':>6} {'mean conf':>9} {'wrong':>7} {'CER':>7}"]
    for b in table:
        if not b.samples:
            continue
        cer = f"{b.cer:.3f}" if b.cer is not None else "-"
        lines.append(f"{b.low:5.2f} - {b.high:4.2f} {b.samples:6d} {b.mean_confidence:9.3f} "
                     f"{b.error_rate:7.1%} {cer:>7}")
    return "\n".join(lines)
