"""How far the engine's confidence can be trusted: confidence bins against observed errors.

Built from ``cer_samples``: word rows (word confidence vs. word errors) and page rows (page
confidence vs. page CER). ``review_threshold`` turns the page table into the
``OCR_REVIEW_CONFIDENCE`` setting: the confidence that best separates pages above a target
CER from the rest, so that mostly the bad pages go to human review.
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
    return [CalibrationBin(bins[i], bins[i + 1], int(n), int(wrong), int(edits), int(chars),
                           total / n if n else None)
            for i, (n, wrong, edits, chars, total) in enumerate(acc)]


@dataclass(frozen=True)
class ReviewThreshold:
    """Flag pages with confidence below ``threshold``; how that rule did on the samples."""

    threshold: float
    flagged: float  # share of scored pages flagged
    caught: int  # pages above the target CER that are flagged
    missed: int  # pages above the target CER that pass
    needless: int  # pages within the target that are flagged


def review_threshold(rows: Iterable[dict[str, Any]], target_cer: float) -> ReviewThreshold | None:
    """The page-confidence threshold that best separates pages whose CER exceeds
    ``target_cer`` from the others (fewest pages on the wrong side; on a tie, the lower
    threshold, i.e. less review work). None without scored pages."""
    pages = [(float(r["confidence"]), int(r["edits"]) / int(r["ref_chars"]) > target_cer)
             for r in rows if r["level"] == "page" and r.get("confidence") is not None
             and r["ref_chars"]]
    if not pages:
        return None
    best: ReviewThreshold | None = None
    for t in sorted({c for c, _ in pages}):
        caught = sum(1 for c, bad in pages if bad and c < t)
        missed = sum(1 for c, bad in pages if bad and c >= t)
        needless = sum(1 for c, bad in pages if not bad and c < t)
        if best is None or missed + needless < best.missed + best.needless:
            flagged = sum(1 for c, _ in pages if c < t) / len(pages)
            best = ReviewThreshold(t, flagged, caught, missed, needless)
    return best


def format_table(table: list[CalibrationBin], title: str) -> str:
    """A fixed-width table for the terminal (and the README)."""
    lines = [title, f"{'confidence':>13} {'n':>6} {'mean conf':>9} {'any error':>9} {'CER':>7}"]
    for b in table:
        if not b.samples:
            continue
        cer = f"{b.cer:.3f}" if b.cer is not None else "-"
        lines.append(f"{b.low:5.2f} - {b.high:4.2f} {b.samples:6d} {b.mean_confidence:9.3f} "
                     f"{b.error_rate:9.1%} {cer:>7}")
    return "\n".join(lines)
