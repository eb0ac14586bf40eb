"""Prove what the lake claims: every source document exactly once, every commit complete.

Definitions (the README's "Reliability" section says the same for operators):

* A *source document* is one version of one source object: its uri plus its fingerprint
  (size and etag, or mtime where there is no etag), exactly as discovery identifies it.
* Its ``documents`` rows are *outcomes*. An ``error`` row whose errors in that batch are
  retryable (storage faults, batches that failed for good) is *history*: the next run tries
  again, so any number of them is allowed. Every other row is *final*.
* A document appears exactly once when its final rows are either one whole-document row
  (a duplicate, or an error before any page) or page segments ``[page_start, page_end)``
  that cover ``0..pages`` without overlap. A document with only history rows is *pending
  retry*: accounted for (errored), not yet done. Pages missing from the final segments are a
  problem unless a history row holds them (pending retry again).
* Inside a final segment every page is an OCR'd ``pages`` row or an ``errors`` row of the same
  batch (or the segment has a document-level error row); ``pages``, ``lines`` and ``words`` have
  no repeated keys; every committed batch has all its files with the row counts its commit
  record states; no data file lacks a commit record (a glob reader would see it).

With a source, every current source object must appear; without one, the documents the lake
knows are checked. Reads go through committed files only, each file once, in parallel.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ocr_tasks.core.concurrency import parallel_map
from ocr_tasks.core.errors import StorageError, StorageUnreachable
from ocr_tasks.io.storage import ObjectStore
from ocr_tasks.lake.maintenance import superseded_files
from ocr_tasks.lake.manifest import missing_ranges, row_fingerprint
from ocr_tasks.lake.schema import TABLES
from ocr_tasks.lake.sources import Fingerprint, is_document_key, source_ref
from ocr_tasks.lake.tables import Lake

# Columns verify reads per table; unique keys per table.
COLUMNS: dict[str, list[str]] = {
    "documents": ["doc_id", "source_uri", "bytes", "source_mtime", "source_etag", "pages",
                  "page_start", "page_end", "status", "batch_id"],
    "pages": ["doc_id", "page", "batch_id"],
    "lines": ["doc_id", "page", "line"],
    "words": ["doc_id", "page", "line", "word"],
    "errors": ["doc_id", "page", "retryable", "batch_id"],
}  # fmt: skip
UNIQUE_KEYS: dict[str, list[str]] = {
    "pages": ["doc_id", "page"],
    "lines": ["doc_id", "page", "line"],
    "words": ["doc_id", "page", "line", "word"],
}


@dataclass(frozen=True)
class Problem:
    """One broken invariant: what is wrong (a stable kind), about what, and the detail."""

    kind: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass
class VerifyReport:
    """Counts of outcomes and every problem found; ``ok`` when there is none."""

    lake: str
    source: str | None = None
    batches: int = 0
    documents: int = 0
    processed: int = 0
    errored: int = 0
    duplicates: int = 0
    pending_retry: int = 0
    pages: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, subject: str, detail: str) -> None:
        self.problems.append(Problem(kind, subject, detail))

    def describe(self) -> str:
        n = len(self.problems)
        verdict = "OK" if self.ok else f"FAILED ({n} problem{'s' if n != 1 else ''})"
        where = f"{self.lake} against {self.source}" if self.source else self.lake
        return (f"verify {verdict}: {where}: {self.documents} documents "
                f"({self.processed} processed, {self.errored} errored, {self.duplicates} "
                f"duplicates, {self.pending_retry} pending retry), {self.pages} pages, "
                f"{self.batches} committed batches")


# ------------------------------------------------------------------------------ commits


def _read_committed(lake: Lake, report: VerifyReport) -> dict[str, pa.Table]:
    """Every committed file once: check it exists with the stated row count, keep the columns
    verify needs. Missing or unreadable files become problems, not exceptions."""
    expected: dict[tuple[str, str], int] = defaultdict(int)  # (table, file) -> rows
    owners: dict[str, str] = {}  # file -> a batch that names it (for messages)
    claimed: set[str] = set()
    for record in lake.snapshot().records():
        report.batches += 1
        batch = record.batch_id
        for name, entry in sorted(record.tables.items()):
            if entry.file:
                expected[(name, entry.file)] += entry.rows
                owners.setdefault(entry.file, batch)
                claimed.add(entry.file)
            elif entry.rows:
                report.add("commit_incomplete", batch, f"{name}: {entry.rows} rows but no file")
    jobs = [(name, owners[key], key, rows) for (name, key), rows in sorted(expected.items())]

    def read(job: tuple[str, str, str, int]) -> tuple[str, pa.Table | None]:
        name, batch, key, rows = job
        try:
            data = lake.store.get(key)
        except StorageUnreachable:
            raise
        except StorageError as e:
            report.add("missing_file", batch, f"{key}: {e}")
            return name, None
        try:
            parquet = pq.ParquetFile(io.BytesIO(data))
            found = parquet.metadata.num_rows
            wanted = [c for c in COLUMNS.get(name, []) if c in parquet.schema_arrow.names]
            table = parquet.read(columns=wanted) if name in COLUMNS else None
        except Exception as e:  # noqa: BLE001 - any parser failure means a damaged file
            report.add("corrupt_file", batch, f"{key}: {e}")
            return name, None
        if found != rows:
            report.add("row_count", batch, f"{key}: {found} rows, commit says {rows}")
        return name, table

    parts: dict[str, list[pa.Table]] = defaultdict(list)
    for name, table in parallel_map(read, jobs):
        if table is not None and table.num_rows:
            parts[name].append(table)
    tables = {
        name: pa.concat_tables(parts[name], promote_options="permissive") if parts[name]
        else pa.table({c: [] for c in columns})
        for name, columns in COLUMNS.items()
    }
    claimed |= superseded_files(lake)
    for name in TABLES:
        if name == "runs":
            continue
        for info in lake.store.list(f"{name}/"):
            if info.key.endswith(".parquet") and info.key not in claimed:
                report.add("uncommitted_file", info.key,
                           "data file without a commit (a run's sweep removes it once that "
                           "run's lease has expired)")
    return tables


def _unique_keys(tables: dict[str, pa.Table], report: VerifyReport) -> None:
    for name, keys in UNIQUE_KEYS.items():
        table = tables[name]
        if not table.num_rows:
            continue
        counts = table.group_by(keys).aggregate([(keys[0], "count")])
        repeated = counts.filter(pc.greater(counts[f"{keys[0]}_count"], 1))
        for row in repeated.to_pylist():
            key = ", ".join(f"{k}={row[k]}" for k in keys)
            report.add("duplicate_rows", name, f"({key}) appears {row[f'{keys[0]}_count']} times")


# ---------------------------------------------------------------------------- documents


def _overlaps(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Page ranges covered more than once."""
    twice, end = [], 0
    for start, stop in sorted(ranges):
        if start < end:
            twice.append((start, min(end, stop)))
        end = max(end, stop)
    return twice


def _fmt(ranges: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"{s}..{e - 1}" if e - s > 1 else str(s) for s, e in ranges)


@dataclass
class _Pages:
    """Per (doc_id, batch_id): pages OCR'd, pages errored, and whether a document-level error
    row exists."""

    ocr: dict[tuple[str, str], set[int]]
    errored: dict[tuple[str, str], set[int]]
    doc_error: set[tuple[str, str]]
    retryable: set[tuple[str, str]]


def _page_index(tables: dict[str, pa.Table]) -> _Pages:
    ocr: dict[tuple[str, str], set[int]] = defaultdict(set)
    for row in tables["pages"].to_pylist():
        ocr[(row["doc_id"], row["batch_id"])].add(int(row["page"]))
    errored: dict[tuple[str, str], set[int]] = defaultdict(set)
    doc_error: set[tuple[str, str]] = set()
    retryable: set[tuple[str, str]] = set()
    for row in tables["errors"].to_pylist():
        key = (row["doc_id"], row["batch_id"])
        if row["retryable"]:
            retryable.add(key)
        if row["page"] is None:
            doc_error.add(key)
        else:
            errored[key].add(int(row["page"]))
    return _Pages(ocr, errored, doc_error, retryable)


def _check_document(subject: str, rows: list[dict[str, Any]], idx: _Pages,
                    report: VerifyReport) -> None:
    """Classify one source document's outcome and check it covers its pages exactly once."""
    final: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for row in rows:
        retry = row["status"] == "error" and (row["doc_id"], row["batch_id"]) in idx.retryable
        (history if retry else final).append(row)
    if not final:
        report.pending_retry += 1
        return
    whole = [r for r in final if r["page_end"] <= r["page_start"]]
    segments = [r for r in final if r["page_end"] > r["page_start"]]
    if len(whole) > 1 or (whole and segments):
        outcomes = sorted(f"{r['status']} in {r['batch_id']}" for r in final)
        report.add("twice", subject, f"{len(final)} final outcomes: {'; '.join(outcomes)}")
        return
    if whole:
        status = whole[0]["status"]
        report.duplicates += status == "duplicate"
        report.errored += status != "duplicate"
        return
    ranges = [(int(r["page_start"]), int(r["page_end"])) for r in segments]
    twice = _overlaps(ranges)
    if twice:
        report.add("twice", subject, f"pages {_fmt(twice)} committed more than once")
        return
    pages = max(int(r["pages"] or 0) for r in segments)
    gaps = missing_ranges(ranges, pages)
    retrying = [(int(r["page_start"]), int(r["page_end"])) for r in history]
    lost = [(max(s, gs), e) for gs, ge in gaps for s, e in missing_ranges(retrying, ge) if e > gs]
    if lost:
        report.add("pages_missing", subject, f"pages {_fmt(lost)} of {pages} in no final outcome")
        return
    if gaps:
        report.pending_retry += 1
        return
    if all(r["status"] == "error" for r in segments):
        report.errored += 1
    else:
        report.processed += 1
    for r in segments:
        key = (r["doc_id"], r["batch_id"])
        want = set(range(int(r["page_start"]), int(r["page_end"])))
        if r["status"] == "ok":
            unaccounted = want - idx.ocr.get(key, set())
        elif key in idx.doc_error:
            continue
        else:
            unaccounted = want - idx.ocr.get(key, set()) - idx.errored.get(key, set())
        if unaccounted:
            ranges_ = _runs(sorted(unaccounted))
            report.add("pages_unaccounted", subject,
                       f"{r['status']} segment in {r['batch_id']}: pages {_fmt(ranges_)} have "
                       "neither a pages row nor an error row")


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v:
            runs[-1] = (runs[-1][0], v + 1)
        else:
            runs.append((v, v + 1))
    return runs


def _orphan_pages(rows: list[dict[str, Any]], idx: _Pages, report: VerifyReport) -> None:
    """Pages rows that no documents row of their batch accounts for."""
    segments: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        segments[(r["doc_id"], r["batch_id"])].append((int(r["page_start"]), int(r["page_end"])))
    for key, pages in idx.ocr.items():
        outside = [p for p in pages if not any(s <= p < e for s, e in segments.get(key, []))]
        if outside:
            report.add("orphan_rows", f"doc {key[0]} in {key[1]}",
                       f"pages {_fmt(_runs(sorted(outside)))} have no documents row")


def verify_lake(lake: Lake, source: ObjectStore | None = None) -> VerifyReport:
    """Check every invariant of the module docstring; storage outages raise, nothing else."""
    report = VerifyReport(lake.uri, source.root_uri if source is not None else None)
    tables = _read_committed(lake, report)
    _unique_keys(tables, report)
    idx = _page_index(tables)
    report.pages = tables["pages"].num_rows
    docs = tables["documents"].to_pylist()
    by_fingerprint: dict[Fingerprint, list[dict[str, Any]]] = defaultdict(list)
    for row in docs:
        by_fingerprint[row_fingerprint(row)].append(row)
    _orphan_pages(docs, idx, report)
    non_duplicate_ids = {r["doc_id"] for r in docs if r["status"] != "duplicate"}
    for row in docs:
        if row["status"] == "duplicate" and row["doc_id"] not in non_duplicate_ids:
            report.add("duplicate_of_nothing", row["source_uri"],
                       f"marked duplicate of {row['doc_id']}, which the lake does not hold")

    if source is None:
        wanted = sorted(by_fingerprint)
    else:
        listed = (source_ref(source, i) for i in source.list() if is_document_key(i.key))
        wanted = [ref.fingerprint for ref in listed]
    known_uris = {fp[0] for fp in by_fingerprint}
    for fp in wanted:
        report.documents += 1
        if fp in by_fingerprint:
            _check_document(fp[0], by_fingerprint[fp], idx, report)
        else:
            changed = " (changed since it was ingested)" if fp[0] in known_uris else ""
            report.add("missing", fp[0], f"source document not in the lake{changed}")
    return report
