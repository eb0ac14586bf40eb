"""Typed rows of every lake table: the one place a row's columns are spelled out in Python.

Each class's fields are exactly its table's columns in ``schema.SCHEMAS`` (a unit test
holds them together), so a builder that forgets a column or misspells one fails at
construction, under mypy, instead of at write time. :meth:`Row.to_dict` gives what
``schema.rows_to_table`` validates and writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, ClassVar

from ocr_tasks.document import Page

_TIMINGS = ("rasterize", "preprocess", "detect", "recognize")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ValueError(f"{what} {value!r} must match {_ID_RE.pattern} (it names files)")
    return value


def run_tag(run_id: str) -> str:
    """The prefix of a run's batch ids (and so of its data files): how a sweep finds the
    files of one dead run without listing the lake."""
    tag = re.sub(r"[^A-Za-z0-9]", "", run_id)[:12]
    if not tag:
        raise ValueError(f"run_id {run_id!r} has no letters or digits")
    return "r" + tag


def _check_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"ingest_date {value!r} must be YYYY-MM-DD") from e
    if len(value) != 10:
        raise ValueError(f"ingest_date {value!r} must be YYYY-MM-DD")
    return value


@dataclass(frozen=True)
class BatchContext:
    """What every row of a batch carries; fixed at planning time so retries are idempotent."""

    run_id: str
    batch_id: str
    ingest_date: str
    model_version: str

    def __post_init__(self) -> None:
        check_id(self.run_id, "run_id")
        check_id(self.batch_id, "batch_id")
        _check_date(self.ingest_date)


class Row:
    """Base of the typed rows; ``TABLE`` names the table."""

    TABLE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DocumentRow(Row):
    TABLE: ClassVar[str] = "documents"
    doc_id: str
    source_uri: str
    bytes: int | None
    pages: int | None
    page_start: int | None
    page_end: int | None
    status: str
    format: str | None
    source_mtime: datetime | None
    source_etag: str | None
    run_id: str
    batch_id: str
    model_version: str | None
    ingested_at: datetime | None
    exports: list[str] | None = None  # lake keys of the segment's export files


@dataclass(frozen=True, slots=True)
class PageRow(Row):
    TABLE: ClassVar[str] = "pages"
    doc_id: str
    page: int
    text: str
    confidence: float
    width: int
    height: int
    dpi: float | None
    rotation: int
    skew_angle: float | None
    n_lines: int
    n_words: int
    needs_review: bool
    model_name: str | None
    model_version: str | None
    t_rasterize_ms: float | None
    t_preprocess_ms: float | None
    t_detect_ms: float | None
    t_recognize_ms: float | None
    run_id: str
    batch_id: str
    text_source: str = "ocr"  # 'ocr', or 'pdf': read from the PDF's text layer


@dataclass(frozen=True, slots=True)
class LineRow(Row):
    TABLE: ClassVar[str] = "lines"
    doc_id: str
    page: int
    line: int
    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float
    polygon: list[float]
    model_version: str | None
    run_id: str
    batch_id: str


@dataclass(frozen=True, slots=True)
class WordRow(Row):
    TABLE: ClassVar[str] = "words"
    doc_id: str
    page: int
    line: int
    word: int
    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float
    polygon: list[float]
    model_version: str | None
    run_id: str
    batch_id: str


@dataclass(frozen=True, slots=True)
class ErrorRow(Row):
    TABLE: ClassVar[str] = "errors"
    doc_id: str | None
    source_uri: str | None
    page: int | None
    kind: str
    message: str
    retryable: bool
    run_id: str
    batch_id: str
    occurred_at: datetime | None


@dataclass(frozen=True, slots=True)
class CerSampleRow(Row):
    TABLE: ClassVar[str] = "cer_samples"
    sample_id: str
    run_id: str
    batch_id: str
    source: str
    doc_id: str | None
    page: int | None
    level: str
    reference: str
    prediction: str
    edits: int
    ref_chars: int
    cer: float | None
    confidence: float | None
    model_version: str | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class RunRow(Row):
    TABLE: ClassVar[str] = "runs"
    run_id: str
    flow: str
    parameters: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    documents: int
    pages: int
    errors: int
    seconds: float
    pages_per_s: float
    cer: float | None
    cer_low: float | None
    cer_high: float | None
    lake_uri: str
    model_version: str


@dataclass(frozen=True, slots=True)
class BatchRow(Row):
    TABLE: ClassVar[str] = "batches"
    batch_id: str
    run_id: str
    documents: int
    pages: int
    errors: int
    canary_pages: int
    seconds: float
    pages_per_s: float
    cer: float | None
    cer_low: float | None
    cer_high: float | None
    worker: str
    model_version: str


ROW_TYPES: dict[str, type[Row]] = {
    cls.TABLE: cls
    for cls in (DocumentRow, PageRow, LineRow, WordRow, ErrorRow, CerSampleRow, RunRow, BatchRow)
}


def as_dicts(rows: Iterable[Row | dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the dicts ``schema.rows_to_table`` validates (plain dicts pass through)."""
    return [r.to_dict() if isinstance(r, Row) else r for r in rows]


def _ms(timings: dict[str, float], name: str) -> float | None:
    value = timings.get(name)
    return None if value is None else float(value) * 1000.0


def _flat(polygon: Iterable[tuple[float, float]]) -> list[float]:
    return [float(v) for point in polygon for v in point]


def page_rows(
    doc_id: str, page: Page, ctx: BatchContext, *, review_confidence: float
) -> dict[str, list[Row]]:
    """Rows of the ``pages``, ``lines`` and ``words`` tables for one OCR'd page."""
    version = page.model_version or ctx.model_version
    run_id, batch_id = ctx.run_id, ctx.batch_id
    confidence = page.confidence
    t = {name: _ms(page.timings, name) for name in _TIMINGS}
    page_row = PageRow(
        doc_id, page.index, page.text, confidence, page.width, page.height, page.dpi,
        page.rotation, page.skew_angle, len(page.lines), len(page.words),
        confidence < review_confidence, page.model_name, version, t["rasterize"],
        t["preprocess"], t["detect"], t["recognize"], run_id, batch_id, page.text_source,
    )
    lines: list[Row] = []
    words: list[Row] = []
    for li, line in enumerate(page.lines):
        x0, y0, x1, y1 = line.box
        lines.append(LineRow(doc_id, page.index, li, line.text, line.confidence, x0, y0, x1, y1,
                             _flat(line.polygon), version, run_id, batch_id))
        for wi, word in enumerate(line.words):
            wx0, wy0, wx1, wy1 = word.box
            words.append(WordRow(doc_id, page.index, li, wi, word.text, word.confidence,
                                 wx0, wy0, wx1, wy1, _flat(word.polygon), version, run_id,
                                 batch_id))
    return {"pages": [page_row], "lines": lines, "words": words}
