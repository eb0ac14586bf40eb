"""Canary pages: synthetic insurance pages with known text, injected into every OCR batch.

The engine's character error rate on canaries is measured continuously; a rise means the
engine, its weights or the preprocessing regressed. A canary is a pure function of its seed
(and severity/dpi), so any canary in the lake can be re-rendered for investigation.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from ocr_tasks.page_image import PageImage
from ocr_tasks.synth.degrade import scan_profile
from ocr_tasks.synth.documents import random_spec, render_document
from ocr_tasks.truth import Boxed, TruthPage, TruthWord

MAX_CANARY_LINES = 40


@dataclass(frozen=True)
class CanaryPage:
    """A degraded page and its truth in the page's pixel frame; ``params`` records the
    layout spec and every degradation value."""

    page: PageImage
    truth: TruthPage
    seed: int
    params: dict[str, Any]

    @property
    def words(self) -> list[TruthWord]:
        """(text, box) in reading order."""
        return self.truth.reading_words()

    @property
    def lines(self) -> list[Boxed]:
        """Visual lines, (text, box) in reading order."""
        return self.truth.reading_lines()

    @property
    def text(self) -> str:
        return self.truth.text


def canary_seed(batch_id: str, index: int) -> int:
    """A seed from the batch id and canary index, stable across processes and machines
    (``hash()`` of a str is salted per process, so it is not used)."""
    digest = hashlib.sha256(f"canary:{batch_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # non-negative, fits int64


def render_canary(seed: int, *, severity: float = 1.0, dpi: int = 150) -> CanaryPage:
    """Render the canary for ``seed``: a claim form, policy schedule or letter at 10-12 pt with
    at most 40 lines, degraded like a real scan (severity 1.0) or worse (e.g. 3.0)."""
    layout_rng = random.Random(seed)
    spec = random_spec(layout_rng, dpi=dpi, max_lines=MAX_CANARY_LINES)
    clean = render_document(spec, layout_rng)
    degraded = scan_profile(clean.image, random.Random(seed ^ 0x5CA9), severity)
    h, w = degraded.image.shape[:2]
    return CanaryPage(
        page=PageImage(degraded.image, index=0, dpi=dpi),
        truth=clean.truth.transformed(degraded.matrix, w, h),
        seed=seed,
        params={"layout": spec.to_dict(), **degraded.params},
    )
