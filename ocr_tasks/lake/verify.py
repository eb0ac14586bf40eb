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
  no repeated keys, and every ``lines``/``words`` row belongs to a ``pages`` row of its own
  batch; every committed batch has all its files with the row counts its commit record
  states; no data file lacks a commit record (a glob reader would see it);
* every export file a commit lists exists, and no export file lacks a commit.

With a source, every current source object must appear; without one, the documents the lake
knows are checked.

How it scales. The committed files are streamed from the snapshot (``Snapshot.records()``,
grouped by file, since a compacted file holds many batches), each file read once, a few at a
time, one row group at a time, only the key columns; row counts come from the Parquet footer.
What stays in memory is per document and per page, never per line or word:

* per ``documents`` row (45 bytes; 53 against a source): a 128-bit fingerprint key, 64-bit
  hashes of the document and batch ids (and of the uri), the segment and the status;
* per page (9 bytes; 8 more while the pages are read): a 64-bit hash of
  ``(doc_id, page, batch_id)`` and a flag;
* per ``lines``/``words`` file, while it is read: one 64-bit key hash per row, to find keys
  repeated inside the file. A key repeated across files needs a ``(doc_id, page)`` that is
  either in two batches' ``pages`` (a repeated page) or not in its own batch's ``pages`` (an
  orphan row), so those two checks, which need only the pages' hashes, cover it.

Hashes only ever nominate: every problem is confirmed and worded from the rows themselves,
re-read for the few keys concerned (a hash collision can hide a problem, with odds near
n^2 / 2^64, never invent one). Documents are classified with NumPy, a few hundred thousand
rows at a time; only those with something to say (two outcomes, overlaps, gaps,
unaccounted pages) go through the per-document Python rules in :func:`_check_document`.
1M documents (3M pages, 26M words): 380 MB peak, about 230 MB above the interpreter and its
imports (bench/lake_scale.py).
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ocr_tasks.core.errors import StorageError, StorageUnreachable
from ocr_tasks.io.storage import ObjectStore
from ocr_tasks.lake.log import Snapshot
from ocr_tasks.lake.maintenance import superseded_files
from ocr_tasks.lake.manifest import missing_ranges, row_fingerprint
from ocr_tasks.lake.schema import SCHEMAS, TABLES
from ocr_tasks.lake.sources import Fingerprint, is_document_key, source_ref
from ocr_tasks.lake.tables import EXPORTS, Lake

T = TypeVar("T")

# Columns verify reads per table; unique keys per table.
COLUMNS: dict[str, list[str]] = {
    "documents": ["doc_id", "source_uri", "bytes", "source_mtime", "source_etag", "pages",
                  "page_start", "page_end", "status", "batch_id"],
    "pages": ["doc_id", "page", "batch_id"],
    "lines": ["doc_id", "page", "line", "batch_id"],
    "words": ["doc_id", "page", "line", "word", "batch_id"],
    "errors": ["doc_id", "page", "retryable", "batch_id"],
}  # fmt: skip
UNIQUE_KEYS: dict[str, list[str]] = {
    "pages": ["doc_id", "page"],
    "lines": ["doc_id", "page", "line"],
    "words": ["doc_id", "page", "line", "word"],
}
_ID_COLUMNS = ("doc_id", "batch_id")  # read as dictionaries: few distinct values per row group
READ_THREADS = 4  # files read at once (each holds one row group of key columns)
BATCH_ROWS = 131_072
EXPAND_PAGES = 1 << 18  # pages expanded from documents segments per NumPy step
FAST_PATH = True  # False sends every document through _check_document (tests compare both)


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


# ------------------------------------------------------------------------------ hashing

_U64 = np.uint64
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_NULL = _U64(0x6E756C6C76657269)  # what a null string hashes to
_BYTES = np.array([(1 << (8 * i)) - 1 for i in range(8)], dtype=np.uint64)
_SEED_DOC, _SEED_BATCH, _SEED_URI, _SEED_FP_HI, _SEED_FP_LO = 11, 23, 37, 41, 53
_STATUSES = pa.array(["ok", "partial", "error", "duplicate"])
_OK, _PARTIAL, _ERROR, _DUPLICATE, _OTHER = 0, 1, 2, 3, 4


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of uint64 that spreads every input bit."""
    x = x ^ (x >> _U64(30))
    x = x * _M1
    x = x ^ (x >> _U64(27))
    x = x * _M2
    return x ^ (x >> _U64(31))


def _combine(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Hash of the pair (h, v): keys of several columns, e.g. (doc, page) then batch."""
    return _mix(h ^ _mix(v.astype(np.uint64) + _GOLDEN))


def _hash_plain(arr: pa.Array, seed: int) -> np.ndarray:
    """64-bit hashes of a string or binary array."""
    return _hash_lanes(arr, (seed,))[0]


def _hash_lanes(arr: pa.Array, seeds: tuple[int, ...]) -> list[np.ndarray]:
    """One 64-bit hash per seed of each value of a string or binary array, 8 bytes per
    vectorized step (each step reads one unaligned 8-byte word per value)."""
    n = len(arr)
    if n == 0:
        return [np.empty(0, np.uint64) for _ in seeds]
    if pa.types.is_null(arr.type):
        return [np.full(n, _NULL, np.uint64) for _ in seeds]
    if not (pa.types.is_string(arr.type) or pa.types.is_binary(arr.type)
            or pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)):
        arr = arr.cast(pa.string())
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    _, offsets_buf, data_buf = arr.buffers()[:3]
    offsets = np.frombuffer(offsets_buf, np.int64 if wide else np.int32,
                            count=arr.offset + n + 1)[arr.offset:].astype(np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(last - first + 8, np.uint8)
    if last > first:
        padded[: last - first] = np.frombuffer(data_buf, np.uint8, count=last)[first:]
    # the 8 bytes starting at every byte offset, as one uint64 each (a strided view)
    words_at = np.ndarray((last - first + 1,), "<u8", padded.data, 0, (1,))
    starts = offsets[:-1] - first
    lens = offsets[1:] - offsets[:-1]
    hashes = [_mix(lens.astype(np.uint64) ^ _U64(seed * 0x100000001B3)) for seed in seeds]
    for k in range(0, int(lens.max()), 8):
        live = lens > k
        sel = None if live.all() else np.flatnonzero(live)
        s, r = (starts, lens) if sel is None else (starts[sel], lens[sel])
        words = words_at[s + k]
        rest = r - k
        short = rest < 8
        if short.any():
            words[short] &= _BYTES[rest[short]]
        for h in hashes:
            if sel is None:
                h[:] = _mix(h ^ words)
            else:
                h[sel] = _mix(h[sel] ^ words)
    if arr.null_count:
        invalid = ~arr.is_valid().to_numpy(zero_copy_only=False)
        for h in hashes:
            h[invalid] = _NULL
    return hashes


def _hash_strings(col: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    """Hashes of a string column; a dictionary column hashes each distinct value once."""
    if isinstance(col, pa.ChunkedArray):
        parts = [_hash_strings(c, seed) for c in col.chunks]
        return np.concatenate(parts) if parts else np.empty(0, np.uint64)
    if pa.types.is_dictionary(col.type):
        values = _hash_plain(col.dictionary, seed)
        if not len(values):
            return np.full(len(col), _NULL, np.uint64)
        out = values[pc.fill_null(col.indices, 0).to_numpy(zero_copy_only=False)]
        if col.null_count:
            out[col.is_null().to_numpy(zero_copy_only=False)] = _NULL
        return out
    return _hash_plain(col, seed)


def _ints(col: pa.Array | pa.ChunkedArray, fill: int = 0) -> np.ndarray:
    return np.asarray(pc.fill_null(col, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


def _valid(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)


def _strings(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return col.cast(pa.string()) if pa.types.is_dictionary(col.type) else col


def _key16(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Two uint64 as one 16-byte key whose byte order sorts like (hi, lo)."""
    out = np.empty(len(hi), dtype=[("hi", ">u8"), ("lo", ">u8")])
    out["hi"], out["lo"] = hi, lo
    return out.view("S16").reshape(-1)


def _isin_sorted(sorted_values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``query`` values present in ``sorted_values`` (sorted ascending)."""
    return _positions(sorted_values, query)[1]


def _positions(sorted_values: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each query value is in ``sorted_values``, and whether it is there. Large queries
    are looked up in sorted order (a walk through ``sorted_values`` instead of a random
    binary search per value: several times faster once it outgrows the CPU caches)."""
    if not len(sorted_values) or not len(query):
        return np.zeros(len(query), np.int64), np.zeros(len(query), bool)
    if len(query) > 4096 and len(sorted_values) > 65536:
        order = np.argsort(query)
        pos = np.empty(len(query), np.int64)
        pos[order] = np.searchsorted(sorted_values, query[order])
    else:
        pos = np.searchsorted(sorted_values, query)
    np.minimum(pos, len(sorted_values) - 1, out=pos)
    return pos, np.asarray(sorted_values[pos] == query)


def _isin_sorted_runs(sorted_values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """:func:`_isin_sorted` for a query of runs of equal values (the lines of a page, page
    after page): one lookup per run."""
    if not len(query):
        return np.zeros(0, bool)
    heads = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    return np.repeat(_isin_sorted(sorted_values, query[heads]), np.diff(np.r_[heads, len(query)]))


def _isoformat(mtime: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``datetime.isoformat()`` of a UTC timestamp column, vectorized (null stays null)."""
    if isinstance(mtime, pa.ChunkedArray):
        mtime = mtime.combine_chunks()
    tz = getattr(mtime.type, "tz", None)
    micros = _ints(mtime.cast(pa.timestamp("us", tz=tz)).cast(pa.int64()))
    stamps = micros.astype("datetime64[us]")
    text = np.where(micros % 1_000_000 == 0,
                    np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s"),
                    np.datetime_as_string(stamps, unit="us"))
    out = pc.binary_join_element_wise(pa.array(text, pa.string()), "+00:00" if tz else "", "")
    return pc.if_else(pc.is_valid(mtime), out, pa.nulls(len(out), pa.string()))


def _fingerprint_keys(uri: Any, size: Any, etag: Any, mtime: Any) -> np.ndarray:
    """128-bit keys of ``sources.fingerprint`` for ``documents`` columns: the same bytes as
    :func:`_listed_keys` hashes for a listed object."""
    etag = _strings(etag)
    has_etag = pc.fill_null(pc.not_equal(etag, ""), False)
    version = pc.if_else(has_etag, etag, pc.fill_null(_isoformat(mtime), ""))
    size_text = pc.cast(pc.fill_null(size, 0), pa.string())
    joined = pc.binary_join_element_wise(_strings(uri), size_text, version, "\x00")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    return _key16(*_hash_lanes(joined, (_SEED_FP_HI, _SEED_FP_LO)))


def _listed_keys(fps: list[Fingerprint]) -> np.ndarray:
    joined = pa.array([f"{u}\0{s}\0{v}".encode("utf-8", "surrogateescape") for u, s, v in fps],
                      pa.binary())
    return _key16(*_hash_lanes(joined, (_SEED_FP_HI, _SEED_FP_LO)))


def _status_codes(status: Any) -> np.ndarray:
    codes = pc.index_in(_strings(status), value_set=_STATUSES)
    return _ints(codes, _OTHER).astype(np.int8)


def _page_keys(doc: np.ndarray, page: np.ndarray, batch: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(doc, page) and (doc, page, batch) hashes."""
    pk2 = _combine(doc, page)
    return pk2, _combine(pk2, batch)


# ------------------------------------------------------------------------------ reading


@dataclass
class _File:
    """A committed data file: its table, the rows the commit records give it, a batch naming
    it (for messages)."""

    table: str
    key: str
    rows: int
    owner: str


class _Corrupt(Exception):
    """A file that exists but cannot be parsed."""


def _plan(snapshot: Snapshot, report: VerifyReport) -> list[_File]:
    """Every committed file once, with the row count of all the batches it holds."""
    files: dict[str, _File] = {}
    for record in snapshot.records():
        report.batches += 1
        for name, entry in sorted(record.tables.items()):
            if entry.file:
                got = files.get(entry.file)
                if got is None:
                    files[entry.file] = _File(name, entry.file, entry.rows, record.batch_id)
                else:
                    got.rows += entry.rows
            elif entry.rows:
                report.add("commit_incomplete", record.batch_id,
                           f"{name}: {entry.rows} rows but no file")
    order = {name: i for i, name in enumerate(TABLES)}
    return sorted(files.values(), key=lambda f: (order.get(f.table, len(order)), f.table, f.key))


def _batches(parquet: pq.ParquetFile, table: str, columns: list[str]
             ) -> Iterator[pa.RecordBatch]:
    """Row batches of ``columns`` (columns the file predates are all null)."""
    names = set(parquet.schema_arrow.names)
    present = [c for c in columns if c in names]
    batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=present)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001 - any parser failure means a damaged file
            raise _Corrupt(str(e)) from e
        for name in columns:
            if name not in present:
                typ = SCHEMAS[table].field(name).type if table in SCHEMAS else pa.string()
                batch = batch.append_column(name, pa.nulls(batch.num_rows, typ))
        yield batch


@dataclass
class _Read:
    """What reading one file gave: its problems, its row count, the table's share of state."""

    file: _File
    problems: list[Problem]
    rows: int = 0
    part: Any = None


def _read_file(lake: Lake, file: _File, work: Callable[[Iterator[pa.RecordBatch]], Any] | None,
               check_rows: bool = True) -> _Read:
    """Open a committed file (S3 objects spool to a temp file: bounded memory), compare its
    footer's row count with the commit's, and hand its key columns' row batches to ``work``."""
    try:
        with lake.store.local_path(file.key) as path:
            try:
                try:
                    try:  # ids as dictionaries: one hash per distinct value
                        parquet = pq.ParquetFile(path, read_dictionary=list(_ID_COLUMNS))
                    except KeyError:  # a file without them (or a table that has none)
                        parquet = pq.ParquetFile(path)
                    found = parquet.metadata.num_rows
                except Exception as e:  # noqa: BLE001 - any parser failure: a damaged file
                    raise _Corrupt(str(e)) from e
                problems = []
                if check_rows and found != file.rows:
                    problems.append(Problem("row_count", file.owner,
                                            f"{file.key}: {found} rows, commit says {file.rows}"))
                columns = COLUMNS.get(file.table, [])
                part = work(_batches(parquet, file.table, columns)) if work is not None else None
                pa.default_memory_pool().release_unused()  # what the file's row groups needed
                return _Read(file, problems, found, part)
            except _Corrupt as e:
                return _Read(file, [Problem("corrupt_file", file.owner, f"{file.key}: {e}")])
    except StorageUnreachable:
        raise
    except StorageError as e:
        return _Read(file, [Problem("missing_file", file.owner, f"{file.key}: {e}")])


def _in_order(fn: Callable[[_File], T], files: Iterable[_File],
              threads: int | None = None) -> Iterator[T]:
    """``map(fn, files)`` over a few threads, in order, at most ``2 * threads`` ahead."""
    threads = threads or READ_THREADS
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[Future[T]] = deque()
        for file in files:
            pending.append(pool.submit(fn, file))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _gather(lake: Lake, files: Iterable[_File], table: str,
            select: Callable[[pa.RecordBatch], np.ndarray]) -> pa.Table:
    """The rows of a table that ``select`` picks, id columns as plain strings: the second
    read that confirms and words problems (only ever done when hashes nominated some)."""
    def work(batches: Iterator[pa.RecordBatch]) -> list[pa.Table]:
        out = []
        for batch in batches:
            mask = select(batch)
            if mask.any():
                picked = pa.Table.from_batches([batch]).filter(pa.array(mask))
                out.append(pa.table({c: _strings(picked[c]) for c in picked.column_names}))
        return out

    parts: list[pa.Table] = []
    for got in _in_order(lambda f: _read_file(lake, f, work, check_rows=False),
                         [f for f in files if f.table == table]):
        parts.extend(got.part or [])
    if not parts:
        return pa.table({c: pa.array([], pa.string()) for c in COLUMNS[table]})
    return pa.concat_tables(parts, promote_options="permissive")


# ------------------------------------------------------------------------- per-table state


class _Buffer:
    """A column filled file by file, allocated once for the rows the commits state (so
    memory holds the column once, not its parts and their concatenation)."""

    def __init__(self, capacity: int, dtype: Any) -> None:
        self.data = np.empty(capacity, dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.data):  # more rows than the commits say (reported as row_count)
            grown = np.empty(max(end, 2 * len(self.data)), self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size:end] = values
        self.size = end

    def array(self) -> np.ndarray:
        out = self.data[: self.size]
        self.data = self.data[:0]
        return out


DOCUMENT_STATE: dict[str, Any] = {
    "fp": "S16", "doc": np.uint64, "batch": np.uint64, "uri": np.uint64,
    "start": np.int32, "end": np.int32, "pages": np.int32, "status": np.int8}


class _Documents:
    """Per ``documents`` row: fingerprint key, id hashes, segment, status (``DOCUMENT_STATE``:
    45 bytes, 53 with the uri's hash, which only a check against a source needs)."""

    def __init__(self, rows: int, uris: bool) -> None:
        self.uris = uris
        self.columns = {name: _Buffer(rows if uris or name != "uri" else 0, dtype)
                        for name, dtype in DOCUMENT_STATE.items()}

    def read(self, batches: Iterator[pa.RecordBatch]) -> dict[str, np.ndarray]:
        cols: dict[str, list[np.ndarray]] = defaultdict(list)
        for b in batches:
            cols["fp"].append(_fingerprint_keys(b["source_uri"], b["bytes"], b["source_etag"],
                                                b["source_mtime"]))
            cols["doc"].append(_hash_strings(b["doc_id"], _SEED_DOC))
            cols["batch"].append(_hash_strings(b["batch_id"], _SEED_BATCH))
            if self.uris:
                cols["uri"].append(_hash_strings(b["source_uri"], _SEED_URI))
            cols["start"].append(_ints(b["page_start"]).astype(np.int32))
            cols["end"].append(_ints(b["page_end"]).astype(np.int32))
            cols["pages"].append(_ints(b["pages"]).astype(np.int32))
            cols["status"].append(_status_codes(b["status"]))
        return {k: np.concatenate(v) for k, v in cols.items()}

    def add(self, part: dict[str, np.ndarray]) -> None:
        for name, values in part.items():
            self.columns[name].extend(values)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: column.array() for name, column in self.columns.items()}


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, np.uint64)


def _errors_part(batches: Iterator[pa.RecordBatch]) -> dict[str, np.ndarray]:
    """(doc, batch) hashes of retryable and of document-level errors; (doc, page, batch)
    hashes of page errors. Rows without a doc_id concern no document."""
    retry, whole, paged = [], [], []
    for b in batches:
        has_doc = _valid(b["doc_id"])
        doc = _hash_strings(b["doc_id"], _SEED_DOC)
        batch = _hash_strings(b["batch_id"], _SEED_BATCH)
        pair = _combine(doc, batch)
        has_page = _valid(b["page"])
        retryable = _ints(b["retryable"].cast(pa.int8()), 0).astype(bool)
        retry.append(pair[has_doc & retryable])
        whole.append(pair[has_doc & ~has_page])
        keep = has_doc & has_page
        paged.append(_page_keys(doc[keep], _ints(b["page"])[keep], batch[keep])[1])
    return {"retry": _cat(retry), "whole": _cat(whole), "paged": _cat(paged)}


def _pages_part(batches: Iterator[pa.RecordBatch]) -> tuple[np.ndarray, np.ndarray]:
    pk2s, pk3s = [], []
    for b in batches:
        pk2, pk3 = _page_keys(_hash_strings(b["doc_id"], _SEED_DOC), _ints(b["page"]),
                              _hash_strings(b["batch_id"], _SEED_BATCH))
        pk2s.append(pk2)
        pk3s.append(pk3)
    return _cat(pk2s), _cat(pk3s)


def _row_keys(table: str, b: pa.RecordBatch | pa.Table
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``lines``/``words`` row's key hash, its (doc, page) and (doc, page, batch) hashes."""
    doc = _hash_strings(b["doc_id"], _SEED_DOC)
    pk2, pk3 = _page_keys(doc, _ints(b["page"]), _hash_strings(b["batch_id"], _SEED_BATCH))
    key = _combine(pk2, _ints(b["line"]))
    if table == "words":
        key = _combine(key, _ints(b["word"]))
    return key, pk2, pk3


def _sorted_unique(parts: Iterable[np.ndarray], dtype: Any = np.uint64) -> np.ndarray:
    parts = list(parts)
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype)


def _dedupe_sorted(values: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return values
    keep = np.empty(len(values), bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values if keep.all() else values[keep]


def _repeated(sorted_values: np.ndarray) -> np.ndarray:
    """Values occurring more than once in a sorted array."""
    if len(sorted_values) < 2:
        return sorted_values[:0]
    same = sorted_values[1:] == sorted_values[:-1]
    return np.unique(sorted_values[1:][same])


@dataclass
class _Index:
    """Hashed answers to the questions the per-document rules ask."""

    pages: np.ndarray  # (doc, page, batch) of pages rows, sorted, unique
    errored: np.ndarray  # (doc, page, batch) of page-level error rows
    doc_error: np.ndarray  # (doc, batch) with a document-level error row
    retryable: np.ndarray  # (doc, batch) with a retryable error row

    @staticmethod
    def _pair(doc_id: str, batch_id: str) -> np.ndarray:
        return _combine(_hash_plain(pa.array([doc_id]), _SEED_DOC),
                        _hash_plain(pa.array([batch_id]), _SEED_BATCH))

    def has_doc_error(self, doc_id: str, batch_id: str) -> bool:
        return bool(_isin_sorted(self.doc_error, self._pair(doc_id, batch_id))[0])

    def unaccounted(self, doc_id: str, batch_id: str, start: int, end: int,
                    with_errors: bool) -> list[int]:
        """Pages of ``[start, end)`` with no ``pages`` row (nor, ``with_errors``, an error
        row) in the batch."""
        pages = np.arange(start, end, dtype=np.int64)
        doc = np.full(len(pages), _hash_plain(pa.array([doc_id]), _SEED_DOC)[0])
        batch = np.full(len(pages), _hash_plain(pa.array([batch_id]), _SEED_BATCH)[0])
        pk3 = _page_keys(doc, pages, batch)[1]
        present = _isin_sorted(self.pages, pk3)
        if with_errors:
            present |= _isin_sorted(self.errored, pk3)
        return [int(p) for p in pages[~present]]


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


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v:
            runs[-1] = (runs[-1][0], v + 1)
        else:
            runs.append((v, v + 1))
    return runs


def _check_document(subject: str, rows: list[dict[str, Any]], idx: _Index,
                    report: VerifyReport) -> None:
    """Classify one source document's outcome and check it covers its pages exactly once.
    Each row carries ``history``: an error row with a retryable error in its batch."""
    final: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for row in rows:
        (history if row["history"] else final).append(row)
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
        ok = r["status"] == "ok"
        if not ok and idx.has_doc_error(r["doc_id"], r["batch_id"]):
            continue
        unaccounted = idx.unaccounted(r["doc_id"], r["batch_id"], int(r["page_start"]),
                                      int(r["page_end"]), with_errors=not ok)
        if unaccounted:
            report.add("pages_unaccounted", subject,
                       f"{r['status']} segment in {r['batch_id']}: pages "
                       f"{_fmt(_runs(unaccounted))} have neither a pages row nor an error row")


def _expand(docs: dict[str, np.ndarray], rows: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """For documents rows ``rows``, every page of their segments: (row, page, (doc, page,
    batch) hash), at most ``EXPAND_PAGES`` pages per step."""
    lengths = np.maximum(docs["end"][rows].astype(np.int64) - docs["start"][rows], 0)
    keep = lengths > 0
    rows, lengths = rows[keep], lengths[keep]
    ends = np.cumsum(lengths)
    first = 0
    while first < len(rows):
        last = int(np.searchsorted(ends, (ends[first] - lengths[first]) + EXPAND_PAGES,
                                   side="right"))
        last = max(last, first + 1)
        chunk, counts = rows[first:last], lengths[first:last]
        rep = np.repeat(chunk, counts)
        offsets = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
        page = docs["start"][rep].astype(np.int64) + offsets
        yield rep, page, _page_keys(docs["doc"][rep], page, docs["batch"][rep])[1]
        first = last


# a fingerprint's outcome as the vectorized pass settles it (SLOW: _check_document decides)
OUTCOMES = ("pending_retry", "duplicates", "errored", "processed")
_PENDING, _DUPLICATES, _ERRORED, _PROCESSED, _SLOW = range(5)
CLASSIFY_ROWS = 1 << 18  # documents rows per NumPy step (whole fingerprints)


def _classify(docs: dict[str, np.ndarray], history: np.ndarray, flagged: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Group documents rows by fingerprint (the rows come sorted by fingerprint, start, end)
    and settle, with NumPy, every document whose rows are unremarkable: all history (pending
    retry), one whole-document outcome, or segments covering its pages once with every page
    accounted for. Returns each fingerprint's key and outcome (``_SLOW`` for the rest), a few
    hundred thousand rows at a time."""
    fp = docs["fp"]
    keys, outcomes = [], []
    first = 0
    while first < len(fp):
        last = min(len(fp), first + CLASSIFY_ROWS)
        if last < len(fp):  # end on a fingerprint's last row
            last += int(np.searchsorted(fp[last:], fp[last - 1], side="right"))
        part = {name: values[first:last] for name, values in docs.items()}
        got = _classify_rows(part, history[first:last], flagged[first:last])
        keys.append(got[0])
        outcomes.append(got[1])
        first = last
    if not keys:
        return np.empty(0, "S16"), np.empty(0, np.int8)
    return np.concatenate(keys), np.concatenate(outcomes)


def _classify_rows(docs: dict[str, np.ndarray], history: np.ndarray, flagged: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    fp = docs["fp"]
    new = np.ones(len(fp), bool)
    new[1:] = fp[1:] != fp[:-1]
    gid = np.cumsum(new) - 1
    groups = int(gid[-1]) + 1
    start, end = docs["start"].astype(np.int64), docs["end"].astype(np.int64)
    status = docs["status"]
    final = ~history
    whole = final & (end <= start)
    seg = final & (end > start)

    def per_group(mask: np.ndarray) -> np.ndarray:
        return np.bincount(gid[mask], minlength=groups)

    n_final, n_whole, n_seg = per_group(final), per_group(whole), per_group(seg)
    pending = n_final == 0
    one_whole = (n_whole == 1) & (n_seg == 0)
    whole_dup = per_group(whole & (status == _DUPLICATE)) > 0
    two_outcomes = (n_whole > 1) | ((n_whole > 0) & (n_seg > 0))
    segmented = (n_whole == 0) & (n_seg > 0)
    all_error = per_group(seg & (status == _ERROR)) == n_seg

    # segments of segmented groups, in (group, start, end) order: overlaps and gaps
    sel = np.flatnonzero(seg & segmented[gid])
    bad = np.zeros(groups, bool)
    if len(sel):
        g, s, e = gid[sel], start[sel], end[sel]
        firsts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        gpages = np.maximum.reduceat(docs["pages"][sel].astype(np.int64), firsts)
        gpages_row = np.repeat(gpages, np.diff(np.r_[firsts, len(sel)]))
        base = g.astype(np.int64) << 33  # running max of the end within each group
        high = np.maximum.accumulate(base + (e + (1 << 31)))
        cursor = np.maximum(np.r_[np.int64(-1), high[:-1]], base + (1 << 31)) - base - (1 << 31)
        overlap = s < cursor
        gap = (s > cursor) & (cursor < gpages_row)
        lasts = np.r_[firsts[1:] - 1, len(sel) - 1]
        tail_gap = (high[lasts] - base[lasts] - (1 << 31)) < gpages
        bad[g[overlap | gap]] = True
        bad[g[firsts][tail_gap]] = True
        bad[g[flagged[sel]]] = True
    outcome = np.full(groups, _SLOW, np.int8)
    if FAST_PATH:
        fast = ~(two_outcomes | (segmented & bad))
        settled = segmented & fast
        outcome[fast & pending] = _PENDING
        outcome[fast & one_whole & whole_dup] = _DUPLICATES
        outcome[fast & ((one_whole & ~whole_dup) | (settled & all_error))] = _ERRORED
        outcome[settled & ~all_error] = _PROCESSED
    return fp[new], outcome


def _uncommitted(lake: Lake, files: list[_File], report: VerifyReport) -> None:
    """Data files no commit names, partition by partition of the (sorted, streamed) listing;
    small files a compaction replaced are fine until their grace ends."""
    committed: dict[str, set[str]] = defaultdict(set)
    for f in files:
        committed[f.key.rsplit("/", 1)[0]].add(f.key)
    superseded = superseded_files(lake)
    for name in TABLES:
        if name == "runs":
            continue
        listing = lake.store.list(f"{name}/")
        for folder, infos in itertools.groupby(listing, key=lambda i: i.key.rsplit("/", 1)[0]):
            known = committed.get(folder, set())
            for info in infos:
                if (info.key.endswith(".parquet") and info.key not in known
                        and info.key not in superseded):
                    report.add("uncommitted_file", info.key,
                               "data file without a commit (a run's sweep removes it once "
                               "that run's lease has expired)")


def _check_exports(lake: Lake, snapshot: Snapshot, report: VerifyReport) -> None:
    """Every committed export file exists, and no export file lacks a commit (files of a
    batch being written, or of a dead run not yet swept, are reported like data files)."""
    committed = set(lake.committed_exports(snapshot))
    present: set[str] = set()
    for info in lake.store.list(f"{EXPORTS}/"):
        present.add(info.key)
        if info.key not in committed:
            report.add("uncommitted_file", info.key,
                       "export file without a commit (a run's sweep removes it once that "
                       "run's lease has expired)")
    for key in sorted(committed - present):
        report.add("export_missing", key, "export file listed in a commit does not exist")


def _batches_of(snapshot: Snapshot, keys: set[str], table: str) -> np.ndarray:
    """Hashes of the batches whose ``table`` rows live in one of ``keys``."""
    ids = [r.batch_id for r in snapshot.records()
           if table in r.tables and r.tables[table].file in keys]
    return np.unique(_hash_plain(pa.array(ids, pa.string()), _SEED_BATCH))


def _report_repeats(table: str, rows: pa.Table, report: VerifyReport) -> None:
    keys = UNIQUE_KEYS[table]
    if not rows.num_rows:
        return
    counts = rows.group_by(keys).aggregate([(keys[0], "count")])
    repeated = counts.filter(pc.greater(counts[f"{keys[0]}_count"], 1))
    for row in repeated.sort_by([(k, "ascending") for k in keys]).to_pylist():
        key = ", ".join(f"{k}={row[k]}" for k in keys)
        report.add("duplicate_rows", table, f"({key}) appears {row[f'{keys[0]}_count']} times")


def _report_orphans(rows: pa.Table, what: str, report: VerifyReport) -> None:
    """Rows grouped by (doc, batch): ``what`` says what they lack."""
    by_key: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in rows.select(["doc_id", "batch_id", "page"]).to_pylist():
        by_key[(r["doc_id"], r["batch_id"])].add(int(r["page"]))
    for (doc_id, batch_id), pages in sorted(by_key.items()):
        report.add("orphan_rows", f"doc {doc_id} in {batch_id}",
                   f"{what.format(pages=_fmt(_runs(sorted(pages))))}")


def _batch_page_keys(b: pa.RecordBatch | pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(doc, page) and (doc, page, batch) hashes of ``pages`` (or ``errors``) rows."""
    return _page_keys(_hash_strings(b["doc_id"], _SEED_DOC), _ints(b["page"]),
                      _hash_strings(b["batch_id"], _SEED_BATCH))


@dataclass
class _Keys:
    """What the first pass keeps: per documents row and per page, nothing per line or word."""

    docs: dict[str, np.ndarray]
    idx: _Index
    repeated_pages: np.ndarray  # (doc, page) hashes in more than one pages row
    excused: np.ndarray  # batches whose pages file is lost: their lines cannot belong


def _read_keys(lake: Lake, snapshot: Snapshot, files: list[_File], report: VerifyReport,
               uris: bool) -> _Keys:
    """Pass 1 over ``documents``, ``errors`` and ``pages`` (and the footers of every table
    but ``lines`` and ``words``)."""
    stated: dict[str, int] = defaultdict(int)
    for f in files:
        stated[f.table] += f.rows
    documents = _Documents(stated["documents"], uris)
    errors: dict[str, list[np.ndarray]] = defaultdict(list)
    pk2_all, pk3_all = _Buffer(stated["pages"], np.uint64), _Buffer(stated["pages"], np.uint64)
    failed_pages: set[str] = set()
    work: dict[str, Callable[[Iterator[pa.RecordBatch]], Any]] = {
        "documents": documents.read, "errors": _errors_part, "pages": _pages_part}
    first = [f for f in files if f.table not in ("lines", "words")]
    for got in _in_order(lambda f: _read_file(lake, f, work.get(f.table)), first):
        report.problems.extend(got.problems)
        table = got.file.table
        if got.part is None:
            if table == "pages":  # missing or corrupt
                failed_pages.add(got.file.key)
        elif table == "documents":
            documents.add(got.part)
        elif table == "errors":
            for name, values in got.part.items():
                errors[name].append(values)
        elif table == "pages":
            report.pages += got.rows
            pk2_all.extend(got.part[0])
            pk3_all.extend(got.part[1])
    pk2 = pk2_all.array()
    pk2.sort()
    repeated_pages = _repeated(pk2)
    del pk2
    pages = pk3_all.array()
    pages.sort()
    pages = _dedupe_sorted(pages)
    idx = _Index(pages, _sorted_unique(errors["paged"]), _sorted_unique(errors["whole"]),
                 _sorted_unique(errors["retry"]))
    excused = (_batches_of(snapshot, failed_pages, "pages") if failed_pages
               else np.empty(0, np.uint64))
    return _Keys(documents.arrays(), idx, repeated_pages, excused)


def _scan_rows(lake: Lake, files: list[_File], keys: _Keys, report: VerifyReport
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pass 1 over ``lines`` and ``words``, one file at a time: key hashes repeated inside the
    file, and the (doc, page) hashes of rows with no ``pages`` row in their batch."""
    def work(table: str) -> Callable[[Iterator[pa.RecordBatch]], Any]:
        def scan(batches: Iterator[pa.RecordBatch]) -> tuple[np.ndarray, np.ndarray]:
            row_keys, strays = [], []
            for b in batches:
                key, pk2, pk3 = _row_keys(table, b)
                row_keys.append(key)
                strays.append(np.unique(pk2[~_isin_sorted_runs(keys.idx.pages, pk3)]))
            in_file = _cat(row_keys)
            in_file.sort()
            return _repeated(in_file), _sorted_unique(strays)
        return scan

    found: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
        "lines": ([], []), "words": ([], [])}
    rows = [f for f in files if f.table in found]
    for got in _in_order(lambda f: _read_file(lake, f, work(f.table)), rows):
        report.problems.extend(got.problems)
        if got.part is not None:
            found[got.file.table][0].append(got.part[0])
            found[got.file.table][1].append(got.part[1])
    return {t: (_sorted_unique(a), _sorted_unique(b)) for t, (a, b) in found.items()}


def _confirm_rows(lake: Lake, files: list[_File], keys: _Keys,
                  nominated: dict[str, tuple[np.ndarray, np.ndarray]],
                  report: VerifyReport) -> None:
    """Repeated keys and orphan ``lines``/``words`` rows, worded from the rows themselves. A
    key repeated across files has a (doc, page) that is repeated in ``pages`` or a stray, so
    reading the rows of those (doc, page) and of the keys repeated within a file finds every
    occurrence of every repeated key."""
    repeated_pages = keys.repeated_pages
    if len(repeated_pages):
        rows = _gather(lake, files, "pages",
                       lambda b: _isin_sorted(repeated_pages, _batch_page_keys(b)[0]))
        _report_repeats("pages", rows, report)
    for table, (repeated, strays) in nominated.items():
        if not (len(repeated) or len(strays) or len(repeated_pages)):
            continue
        suspect = np.union1d(strays, repeated_pages)

        def pick(b: pa.RecordBatch, table: str = table, repeated: np.ndarray = repeated,
                 suspect: np.ndarray = suspect) -> np.ndarray:
            key, pk2, _ = _row_keys(table, b)
            return _isin_sorted(repeated, key) | _isin_sorted(suspect, pk2)

        rows = _gather(lake, files, table, pick)
        _report_repeats(table, rows, report)
        if len(strays) and rows.num_rows:
            pk3 = _row_keys(table, rows)[2]
            batch = _hash_strings(rows["batch_id"], _SEED_BATCH)
            stray = ~_isin_sorted(keys.idx.pages, pk3) & ~_isin_sorted(keys.excused, batch)
            _report_orphans(rows.filter(pa.array(stray)),
                            f"{table} of pages {{pages}} have no pages row in their batch", report)


def _check_pages(lake: Lake, files: list[_File], keys: _Keys, history: np.ndarray,
                 report: VerifyReport) -> np.ndarray:
    """Every page of every documents segment against the pages (and errors) of its batch:
    ``pages`` rows in no segment of their batch are orphans (reported); returns which rows
    are final segments with a page unaccounted for (their documents take the slow path)."""
    docs, idx = keys.docs, keys.idx
    pair = _combine(docs["doc"], docs["batch"])
    not_ok = docs["status"] != _OK
    need = ~history & ~(not_ok & _isin_sorted(idx.doc_error, pair))
    flagged = np.zeros(len(pair), bool)
    covered = np.zeros(len(idx.pages), bool)
    for rep, _page, pk3 in _expand(docs, np.arange(len(pair))):
        pos, hit = _positions(idx.pages, pk3)
        covered[pos[hit]] = True
        present = hit | (not_ok[rep] & _isin_sorted(idx.errored, pk3))
        flagged[rep[need[rep] & ~present]] = True
    orphans = idx.pages[~covered]
    if len(orphans):
        rows = _gather(lake, files, "pages",
                       lambda b: _isin_sorted(orphans, _batch_page_keys(b)[1]))
        _report_orphans(rows, "pages {pages} have no documents row", report)
    return flagged


def _wanted(source: ObjectStore, groups: np.ndarray, known_uris: np.ndarray,
            report: VerifyReport, problems: list[Problem]) -> np.ndarray:
    """The fingerprint groups the source lists (a streamed listing, in chunks); listed
    documents the lake lacks are ``missing``."""
    wanted = np.zeros(len(groups), bool)
    listed = (source_ref(source, i).fingerprint for i in source.list() if is_document_key(i.key))
    while chunk := list(itertools.islice(listed, 50_000)):
        report.documents += len(chunk)
        keys = _listed_keys(chunk)
        pos, found = _positions(groups, keys)
        wanted[pos[found]] = True
        uris = pa.array([fp[0].encode("utf-8", "surrogateescape") for fp in chunk], pa.binary())
        changed = _isin_sorted(known_uris, _hash_plain(uris, _SEED_URI))
        for n in np.flatnonzero(~found):
            note = " (changed since it was ingested)" if changed[n] else ""
            problems.append(Problem("missing", chunk[n][0],
                                    f"source document not in the lake{note}"))
    return wanted


def _check_documents(lake: Lake, files: list[_File], keys: _Keys,
                     source: ObjectStore | None, report: VerifyReport) -> None:
    """Each wanted fingerprint's outcome: settled in NumPy where unremarkable, otherwise by
    :func:`_check_document` on its rows, read again; and duplicates of nothing."""
    docs, idx = keys.docs, keys.idx
    order = np.lexsort((docs["end"], docs["start"], docs["fp"]))
    for name in list(docs):  # one column at a time: one extra column in memory at most
        if len(docs[name]) == len(order):  # (no uri hashes without a source)
            docs[name] = docs[name][order]
    del order
    history = (docs["status"] == _ERROR) & _isin_sorted(
        idx.retryable, _combine(docs["doc"], docs["batch"]))
    flagged = _check_pages(lake, files, keys, history, report)
    originals = np.unique(docs["doc"][docs["status"] != _DUPLICATE])
    of_nothing = (docs["status"] == _DUPLICATE) & ~_isin_sorted(originals, docs["doc"])
    dup_fps = np.unique(docs["fp"][of_nothing])
    groups, outcome = _classify(docs, history, flagged)
    known_uris = np.unique(docs["uri"]) if source is not None else docs["uri"][:0]
    keys.docs = {}  # the rest needs only the groups
    del docs, history, flagged, of_nothing

    problems: list[Problem] = []
    if source is None:
        wanted = np.ones(len(groups), bool)
        report.documents = len(groups)
    else:
        wanted = _wanted(source, groups, known_uris, report, problems)
    counts = np.bincount(outcome[wanted], minlength=len(OUTCOMES) + 1)
    for code, name in enumerate(OUTCOMES):
        setattr(report, name, getattr(report, name) + int(counts[code]))

    slow_fps = groups[(outcome == _SLOW) & wanted]
    if len(slow_fps) or len(dup_fps):
        def pick(b: pa.RecordBatch) -> np.ndarray:
            fp = _fingerprint_keys(b["source_uri"], b["bytes"], b["source_etag"],
                                   b["source_mtime"])
            return _isin_sorted(slow_fps, fp) | _isin_sorted(dup_fps, fp)

        rows = _gather(lake, files, "documents", pick)
        doc = _hash_strings(rows["doc_id"], _SEED_DOC)
        retry = _isin_sorted(idx.retryable,
                             _combine(doc, _hash_strings(rows["batch_id"], _SEED_BATCH)))
        is_history = (_status_codes(rows["status"]) == _ERROR) & retry
        is_slow = _isin_sorted(slow_fps, _fingerprint_keys(
            rows["source_uri"], rows["bytes"], rows["source_etag"], rows["source_mtime"]))
        is_orphan_dup = ~_isin_sorted(originals, doc)
        by_fingerprint: dict[Fingerprint, list[dict[str, Any]]] = defaultdict(list)
        for n, row in enumerate(rows.to_pylist()):
            row["history"] = bool(is_history[n])
            if row["status"] == "duplicate" and is_orphan_dup[n]:
                problems.append(Problem(
                    "duplicate_of_nothing", row["source_uri"],
                    f"marked duplicate of {row['doc_id']}, which the lake does not hold"))
            if is_slow[n]:
                by_fingerprint[row_fingerprint(row)].append(row)
        slow = VerifyReport(report.lake)
        for fp in sorted(by_fingerprint):
            _check_document(fp[0], by_fingerprint[fp], idx, slow)
        for name in ("processed", "errored", "duplicates", "pending_retry"):
            setattr(report, name, getattr(report, name) + getattr(slow, name))
        problems.extend(slow.problems)
    report.problems.extend(sorted(problems, key=lambda p: (p.kind != "duplicate_of_nothing",
                                                           p.subject)))


def verify_lake(lake: Lake, source: ObjectStore | None = None) -> VerifyReport:
    """Check every invariant of the module docstring; storage outages raise, nothing else."""
    report = VerifyReport(lake.uri, source.root_uri if source is not None else None)
    snapshot = lake.snapshot()
    files = _plan(snapshot, report)
    keys = _read_keys(lake, snapshot, files, report, uris=source is not None)
    nominated = _scan_rows(lake, files, keys, report)
    _uncommitted(lake, files, report)
    _check_exports(lake, snapshot, report)
    _confirm_rows(lake, files, keys, nominated, report)
    _check_documents(lake, files, keys, source, report)
    return report
