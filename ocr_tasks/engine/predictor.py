"""The OCR engine: page images in, ``Page`` results (lines, words, boxes, text) out.

Stages per call: prepare each page (colour, contrast, scale, orientation, deskew; each step
records the matrix back to the input frame), detect lines, then crop, orient and recognize
the lines of *all* pages together, batched by similar width, and finally cut lines into
words at the recognizer's time steps and fit each word box to its ink.

``Page.timings`` holds wall seconds per stage (preprocess, detect, classify, recognize) and
the process CPU seconds of the same stages under ``<stage>_cpu``: on a shared host the CPU
time is the cost per page, the wall time is what a caller waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from ocr_tasks.core.config import EngineSettings
from ocr_tasks.document import Line, Page, Word
from ocr_tasks.engine import models, registry
from ocr_tasks.engine import postprocess as post
from ocr_tasks.engine import preprocess as pre
from ocr_tasks.engine.backends import InferenceBackend, resolve_device, select_backend
from ocr_tasks.page_image import PageImage

ORIENTATION_SAMPLES = 24  # longest lines voted on for the page's 0/180 orientation
MAX_SKEW = 10.0  # degrees; larger angles are layout, not scanner skew
MIN_SKEW = 1.0  # degrees; below this re-detection on a rotated page changed nothing on FUNSD
CLS_FLIP = 0.9  # direction-classifier confidence needed to try a line upside down
MIN_LINE_CONFIDENCE = 0.5  # lines below this are noise (rules, specks, stamps)


@dataclass
class _PreparedPage:
    """A page ready for recognition: upright image, its line quads, and the way back."""

    source: PageImage
    image: np.ndarray
    to_input: np.ndarray  # 3x3: prepared pixel -> input pixel
    quads: list[np.ndarray]
    rotation: int = 0
    skew: float = 0.0
    upright_sure: bool = False  # the orientation vote was confident: no per-line classifier
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _LineCrop:
    page: int
    quad: np.ndarray
    crop: post.Crop


class OcrEngine:
    """PP-OCRv6 detection + direction classification + CTC recognition on any backend.

    ``Page.skew_angle`` is the angle of the text lines after orientation correction, in
    degrees, clockwise positive; it is measured always and corrected when ``deskew`` is on.
    """

    def __init__(
        self, settings: EngineSettings | None = None, backend: InferenceBackend | None = None
    ):
        self.settings = settings or EngineSettings()
        # OpenCV's pool is the process's and sized to its CPUs, whatever OMP_NUM_THREADS
        # says: the engine's thread count holds for its resizes, warps and contours as well
        cv2.setNumThreads(self.settings.threads)
        stored = registry.resolve(self.settings.model)
        version = None if stored == registry.BUNDLED else registry.load(stored)
        self.backend = backend or select_backend(self.settings, version)
        if version is None:
            self.charset = models.charset(self.settings.charset)
            self.model_name = models.MODEL_NAME
            self.model_version = models.model_version(self.settings.charset)
        else:
            self.charset, self.model_name = version.charset, version.name
            self.model_version = version.ref
        self.device = resolve_device(self.settings)

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def pages_per_call(self) -> int:
        """Pages to hand over at once: recognition batches lines across them."""
        return self.settings.pages_per_call_gpu if self.on_gpu else self.settings.pages_per_call

    @property
    def det_batch_pages(self) -> int:
        """Pages per detector call: padded batches on a GPU, one page at a time on CPU."""
        s = self.settings
        return s.det_batch_pages_gpu if self.on_gpu else s.det_batch_pages

    @property
    def prefetch_pages(self) -> int:
        """Pages a caller should rasterize ahead on a thread (``core.prefetch``)."""
        return self.settings.prefetch_pages_gpu if self.on_gpu else 0

    # --- public API ----------------------------------------------------------------------

    def recognize_pages(self, pages: Sequence[PageImage]) -> list[Page]:
        """OCR pages; recognition is batched across all of them."""
        prepared = [self._preprocess(page) for page in pages]
        for group in post.size_groups([p.image.shape[:2] for p in prepared],
                                      self.settings.det_scale, self.det_batch_pages):
            self._detect_many([prepared[i] for i in group])
        for p in prepared:
            self._orient(p)
        spent: dict[str, float] = {}
        with _timed(spent, "recognize"):
            crops = [
                _LineCrop(i, quad, post.crop_quad(p.image, quad))
                for i, p in enumerate(prepared)
                for quad in p.quads
            ]
            crops = [self._upright(c) for c in crops]
        to_classify = [
            i for i, c in enumerate(crops)
            if self.settings.use_direction_classifier and not prepared[c.page].upright_sure
        ]
        with _timed(spent, "classify"):
            flagged = self._upside_down(crops, to_classify)
        with _timed(spent, "recognize"):
            flipped = [_flipped(crops[i]) for i in flagged]
            decoded = self._recognize([c.crop.image for c in crops + flipped])
            for k, i in enumerate(flagged):  # the classifier proposes, the recognizer decides
                alternative = decoded[len(crops) + k]
                if alternative[0].confidence > decoded[i][0].confidence:
                    crops[i], decoded[i] = flipped[k], alternative
            lines_per_page: list[list[Line]] = [[] for _ in prepared]
            for c, (dec, step_width) in zip(crops, decoded[: len(crops)], strict=True):
                line = self._line(prepared[c.page], c, dec, step_width)
                if line is not None:
                    lines_per_page[c.page].append(line)
        # the line phase is shared by the pages: each is charged in proportion to its lines
        classified = [0] * len(prepared)
        for i in to_classify:
            classified[crops[i].page] += 1
        for n, p in enumerate(prepared):
            for stage, total in spent.items():
                share = (classified[n] / max(1, len(to_classify)) if stage.startswith("classify")
                         else len(p.quads) / max(1, len(crops)))
                p.timings[stage] = p.timings.get(stage, 0.0) + total * share
        return [
            self._page(p, lines) for p, lines in zip(prepared, lines_per_page, strict=True)
        ]

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of upright word or line images (no detection)."""
        images = [pre.to_bgr(c) for c in crops]
        return [(d.text.strip(), d.confidence) for d, _ in self._recognize(images)]

    # --- preparation and detection -------------------------------------------------------

    def _preprocess(self, page: PageImage) -> _PreparedPage:
        s = self.settings
        timings: dict[str, float] = {"detect": 0.0, "detect_cpu": 0.0}
        with _timed(timings, "preprocess"):
            image = pre.to_bgr(page.image)
            if s.denoise:
                image = pre.denoise(image)
            if s.normalize_contrast:
                image = pre.normalize_contrast(image)
            scale = pre.scale_factor(
                page.width, page.height, page.dpi,
                upscale_below_dpi=s.upscale_below_dpi, max_side=s.max_side,
            )
            image, to_input = pre.resize(image, scale)
        return _PreparedPage(page, image, to_input, [], timings=timings)

    def _orient(self, prepared: _PreparedPage) -> None:
        """Quarter and half turns, skew measured (and corrected when ``deskew`` is on)."""
        s = self.settings
        if s.detect_orientation:
            self._fix_orientation(prepared)
        prepared.skew = _skew(prepared.quads)
        if s.deskew and MIN_SKEW <= abs(prepared.skew) <= MAX_SKEW:
            self._transform(prepared, *pre.rotate_small(prepared.image, prepared.skew))
            self._detect(prepared)

    def _detect(self, p: _PreparedPage) -> None:
        self._detect_many([p])

    def _detect_many(self, pages: Sequence[_PreparedPage]) -> None:
        """Line quads of prepared pages, detected in one call (padded to a common size, see
        ``post.size_groups``) on copies scaled by ``det_scale`` (measured on FUNSD: 0.8 with
        unclip 1.5 cost -16 % engine time at the same accuracy) and mapped back to each
        prepared page, whose full resolution the crops are cut from. The time is shared
        equally by the pages."""
        if not pages:
            return
        s = self.settings
        spent: dict[str, float] = {}
        with _timed(spent, "detect"):
            scaled = [pre.resize(p.image, s.det_scale) for p in pages]
            batch, sizes = post.det_batch([image for image, _ in scaled])
            probs = self.backend.det(batch)
            for p, (_, back), (h, w), prob in zip(pages, scaled, sizes, probs, strict=True):
                quads = [q for q, _ in post.db_boxes(prob[0, :h, :w], unclip_ratio=s.unclip_ratio)]
                p.quads = post.scale_quads(quads, back, p.image.shape[1], p.image.shape[0])
        for p in pages:
            for key, value in spent.items():
                p.timings[key] = p.timings.get(key, 0.0) + value / len(pages)

    def _transform(self, p: _PreparedPage, image: np.ndarray, back: np.ndarray) -> None:
        """Replace the page image by a transformed one, keeping the map to the input."""
        with _timed(p.timings, "preprocess"):
            p.image = image
            p.to_input = p.to_input @ back

    def _fix_orientation(self, p: _PreparedPage) -> None:
        """Quarter turns from line shapes (text lines are wide), half turns by a vote of
        the direction classifier over the longest lines."""
        if _mostly_vertical(p.quads):
            self._transform(p, *pre.rotate90(p.image, 90))
            p.rotation = 90
            self._detect(p)
        longest = sorted(p.quads, key=lambda q: -post.quad_size(q)[0])[:ORIENTATION_SAMPLES]
        if not longest:
            return
        with _timed(p.timings, "classify"):
            crops = [post.crop_quad(p.image, q).image for q in longest]
            probs = self.backend.cls(post.cls_batch(crops))
        vote = float(np.mean(probs[:, 1]))
        p.upright_sure = upright_sure(vote, len(longest), self.settings.skip_line_classifier_below)
        if vote > 0.5:
            image, back = pre.rotate90(p.image, 180)
            self._transform(p, image, back)
            forward = np.linalg.inv(back)
            p.quads = [post.order_quad(post.map_points(forward, q)) for q in p.quads]
            p.rotation = (p.rotation + 180) % 360

    # --- crops and recognition -----------------------------------------------------------

    @staticmethod
    def _upright(c: _LineCrop) -> _LineCrop:
        """Tall crops hold vertical text: turn them a quarter counter-clockwise."""
        h, w = c.crop.image.shape[:2]
        if h < 1.5 * w:
            return c
        image, back = pre.rotate90(c.crop.image, 270)
        return _LineCrop(c.page, c.quad, post.Crop(image, c.crop.to_source @ back))

    def _upside_down(self, crops: list[_LineCrop], which: list[int]) -> list[int]:
        """Indices (of ``which``) of the crops the direction classifier believes upside down."""
        flagged: list[int] = []
        size = self.backend.rec_batch_size
        for start in range(0, len(which), size):
            idx = which[start : start + size]
            probs = self.backend.cls(post.cls_batch([crops[i].crop.image for i in idx]))
            flagged.extend(i for i, prob in zip(idx, probs, strict=True) if prob[1] > CLS_FLIP)
        return flagged

    def _recognize(self, images: Sequence[np.ndarray]) -> list[tuple[post.Decoded, float]]:
        """Decoded text and crop pixels per time step, batching crops of similar width
        (padded to the ladder's widths where the backend compiles per shape)."""
        order = sorted(range(len(images)), key=lambda i: post.rec_width(images[i]))
        results: list[tuple[post.Decoded, float]] = [(post.Decoded("", (), ()), 1.0)] * len(images)
        size = self.backend.rec_batch_size
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            batch, used = post.rec_batch([images[i] for i in idx],
                                         laddered=self.backend.rec_width_ladder)
            probs = self.backend.rec(batch)
            for i, prob, width in zip(idx, probs, used, strict=True):
                steps = int(np.ceil(width / post.REC_STRIDE))
                dec = post.ctc_greedy_decode(prob, self.charset, steps)
                step_width = post.REC_STRIDE * images[i].shape[1] / width
                results[i] = (dec, step_width)
        return results

    # --- assembly ------------------------------------------------------------------------

    def _line(
        self, p: _PreparedPage, c: _LineCrop, dec: post.Decoded, step_width: float
    ) -> Line | None:
        if not dec.text.strip() or dec.confidence < MIN_LINE_CONFIDENCE:
            return None
        to_input = p.to_input @ c.crop.to_source
        ink = post.ink_mask(cv2.cvtColor(c.crop.image, cv2.COLOR_BGR2GRAY))
        words = []
        for span in post.split_words(dec, step_width, ink.shape[1]):
            x0, y0, x1, y1 = post.fit_word_box(ink, span)
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
            words.append(
                Word(span.text, span.confidence, _polygon(post.map_points(to_input, corners)))
            )
        h_c, w_c = c.crop.image.shape[:2]
        outline = np.array([[0, 0], [w_c, 0], [w_c, h_c], [0, h_c]], dtype=np.float32)
        polygon = _polygon(post.map_points(to_input, outline))
        return Line(dec.text.strip(), dec.confidence, polygon, tuple(words))

    def _page(self, p: _PreparedPage, lines: list[Line]) -> Page:
        order = post.reading_order([_upright_box(line, p) for line in lines])
        return Page(
            index=p.source.index,
            width=p.source.width,
            height=p.source.height,
            dpi=p.source.dpi,
            lines=tuple(lines[i] for i in order),
            rotation=p.rotation,
            skew_angle=p.skew,
            model_name=self.model_name,
            model_version=self.model_version,
            timings=dict(p.timings),
            has_ink=bool(lines) or pre.has_ink(p.source.image),
        )


MIN_VOTE_LINES = 4  # fewer voters than this never make a page "confidently upright"


def upright_sure(vote: float, voters: int, margin: float) -> bool:
    """Whether a page's orientation vote (mean upside-down probability of ``voters`` long
    lines) is confident either way, so its lines need no classifier of their own (measured:
    -3 % engine time). A page turned by the vote is upright afterwards, hence both ends."""
    if margin <= 0 or voters < MIN_VOTE_LINES:
        return False
    return vote < margin or vote > 1.0 - margin


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the wall seconds of the block to ``timings[stage]`` and its process CPU seconds
    to ``timings[stage + '_cpu']``."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - wall
        key = stage + "_cpu"
        timings[key] = timings.get(key, 0.0) + time.process_time() - cpu


def _flipped(c: _LineCrop) -> _LineCrop:
    """The crop turned half a turn, still mapping back to its source pixels."""
    image, back = pre.rotate90(c.crop.image, 180)
    return _LineCrop(c.page, c.quad, post.Crop(image, c.crop.to_source @ back))


def _polygon(points: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in points)


def _upright_box(line: Line, p: _PreparedPage) -> tuple[float, float, float, float]:
    """A line's box in the prepared (upright) frame, where reading order makes sense."""
    pts = post.map_points(np.linalg.inv(p.to_input), np.asarray(line.polygon, dtype=np.float32))
    return (
        float(pts[:, 0].min()),
        float(pts[:, 1].min()),
        float(pts[:, 0].max()),
        float(pts[:, 1].max()),
    )


def _mostly_vertical(quads: Sequence[np.ndarray]) -> bool:
    """True when most text length lies in boxes clearly taller than wide."""
    vertical = horizontal = 0.0
    for q in quads:
        w = float(q[:, 0].max() - q[:, 0].min())
        h = float(q[:, 1].max() - q[:, 1].min())
        if h >= 2 * w:
            vertical += h
        elif w >= 2 * h:
            horizontal += w
    return vertical > horizontal


def _skew(quads: Sequence[np.ndarray]) -> float:
    """Length-weighted median angle of the long lines, in degrees (clockwise positive)."""
    angles, weights = [], []
    for q in quads:
        w, h = post.quad_size(q)
        if w >= 3 * h:
            angles.append(post.quad_angle(q))
            weights.append(w)
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    return float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2)])


@lru_cache(maxsize=4)
def _cached_engine(settings_json: str) -> OcrEngine:
    return OcrEngine(EngineSettings.model_validate_json(settings_json))


def get_engine(settings: EngineSettings | None = None) -> OcrEngine:
    """The process-wide engine for these settings: models load once per worker process."""
    return _cached_engine((settings or EngineSettings()).model_dump_json())
