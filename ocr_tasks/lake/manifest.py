"""What the lake already holds, as needed to plan the next run (resume, dedupe).

Built from committed ``documents`` rows (and the retryable flags of ``errors`` rows). A source
object version (one fingerprint) is *done* when committed segments cover all its pages, or
when it ended for good as a whole (a duplicate, or an error that retrying cannot fix).
Retryable failures (storage faults, batches that crashed) are not done: the next run tries
again.

Cost: a run reads the newest checkpoint's reduced manifest (one Parquet file, one row per
fingerprint, filtered to the run's source prefix by row-group statistics) and the documents of
the batches committed since, never the whole history of commits. In memory a done
fingerprint is a 16-byte digest in a sorted NumPy array (~16 bytes per document: 160 MB at
10 million); only the few documents with pages still missing keep their page ranges.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ocr_tasks.lake.log import Snapshot
from ocr_tasks.lake.sources import Fingerprint, fingerprint
from ocr_tasks.lake.tables import Lake

FINAL_STATUSES = ("ok", "partial", "duplicate")
DELETED = "deleted"  # status of a tombstone: the source object is gone
DOCUMENT_COLUMNS = ["doc_id", "source_uri", "bytes", "source_mtime", "source_etag",
                    "page_start", "page_end", "pages", "status", "batch_id", "ingested_at",
                    "run_id"]
MANIFEST_SCHEMA = pa.schema([
    ("fp", pa.binary(16)), ("source_uri", pa.string()), ("doc_id", pa.string()),
    ("pages", pa.int32()), ("done", pa.bool_()), ("covered", pa.list_(pa.int32())),
    ("last_at", pa.timestamp("us", tz="UTC")), ("tombstone", pa.bool_()),
    ("retries", pa.int16()),
])  # fmt: skip


def row_fingerprint(row: dict[str, Any]) -> Fingerprint:
    """The fingerprint of a ``documents`` row."""
    return fingerprint(row["source_uri"], row["bytes"], row["source_etag"], row["source_mtime"])


def digest(fp: Fingerprint) -> bytes:
    """16 bytes standing for a fingerprint (collisions: ~1e-20 at 10 million documents)."""
    uri, size, version = fp
    raw = f"{uri}\0{size}\0{version}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(raw, digest_size=16).digest()


def missing_ranges(covered: list[tuple[int, int]], pages: int) -> list[tuple[int, int]]:
    gaps, cursor = [], 0
    for start, end in sorted(covered):
        if start > cursor:
            gaps.append((cursor, min(start, pages)))
        cursor = max(cursor, end)
    if cursor < pages:
        gaps.append((cursor, pages))
    return [(s, e) for s, e in gaps if e > s]


class FingerprintSet:
    """Done fingerprints: a sorted array of digests plus what this run added."""

    def __init__(self, digests: Iterable[bytes] = (), arrays: Iterable[np.ndarray] = ()) -> None:
        arr = np.concatenate([np.array(list(set(digests)), dtype="S16"), *arrays])
        arr.sort()
        if len(arr) > 1:
            unique = np.empty(len(arr), bool)
            unique[0] = True
            np.not_equal(arr[1:], arr[:-1], out=unique[1:])
            if not unique.all():
                arr = arr[unique]
        self._sorted = arr
        self._added: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._added)

    def add(self, fp: Fingerprint) -> None:
        self._added.add(digest(fp))

    def __contains__(self, fp: object) -> bool:
        d = digest(fp)  # type: ignore[arg-type]
        if d in self._added:
            return True
        i = int(np.searchsorted(self._sorted, d))
        # tobytes: indexing an "S16" array strips trailing zero bytes from the digest
        return i < len(self._sorted) and self._sorted[i:i + 1].tobytes() == d

    @property
    def nbytes(self) -> int:
        return int(self._sorted.nbytes) + 49 * len(self._added)


@dataclass
class _State:
    """One fingerprint's committed outcome while reducing rows."""

    uri: str
    doc_id: str
    pages: int = 0
    whole_final: bool = False
    covered: list[tuple[int, int]] = field(default_factory=list)
    last_at: datetime | None = None  # when this version was last written to the lake
    tombstone: bool = False
    retries: int = 0  # runs in which it failed in a way that said "try again"
    failed_runs: set[str] = field(default_factory=set)

    @property
    def done(self) -> bool:
        return self.whole_final or (self.pages > 0 and not missing_ranges(self.covered,
                                                                          self.pages))


def reduce_rows(docs: Iterable[dict[str, Any]], retryable: set[tuple[str, str]],
                states: dict[bytes, _State] | None = None) -> dict[bytes, _State]:
    """Fold ``documents`` rows into per-fingerprint states (``retryable``: the (doc, batch)
    pairs whose error rows say try again)."""
    states = {} if states is None else states
    for row in docs:
        d = digest(row_fingerprint(row))
        st = states.get(d)
        if st is None:
            st = states[d] = _State(row["source_uri"], row["doc_id"])
        status = row["status"]
        at = row.get("ingested_at")
        if at is not None and (st.last_at is None or at > st.last_at):
            st.last_at = at
        if status == DELETED:
            st.tombstone = st.whole_final = True
        elif status == "duplicate":
            st.whole_final = True
        elif status in FINAL_STATUSES:
            st.covered.append((int(row["page_start"]), int(row["page_end"])))
            st.pages = max(st.pages, int(row["pages"] or 0))
        elif (row["doc_id"], row["batch_id"]) not in retryable:
            st.whole_final = True  # failed for good: do not retry
        elif row.get("run_id") and row["run_id"] not in st.failed_runs:
            st.failed_runs.add(row["run_id"])
            st.retries += 1
    return states


@dataclass
class Manifest:
    """What a run plans against: done fingerprints, and page ranges of unfinished documents."""

    done_fingerprints: FingerprintSet = field(default_factory=FingerprintSet)
    covered: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    retries: dict[bytes, int] = field(default_factory=dict)  # digest -> runs it failed in
    done_doc_ids: set[str] = field(default_factory=set)  # finished in the tail or this run

    def missing_ranges(self, doc_id: str, pages: int) -> list[tuple[int, int]]:
        """Page ranges of a document not yet committed (all of it when unknown)."""
        return missing_ranges(self.covered.get(doc_id, []), pages)


def _prefix_filter(prefix: str | None) -> Any:
    if not prefix:
        return None
    return (pc.field("source_uri") >= prefix) & (pc.field("source_uri") < prefix + "\U0010ffff")


def checkpoint_batches(lake: Lake, snapshot: Snapshot, expr: Any = None,
                       columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The checkpoint's reduced manifest, streamed batch by batch: only rows matching
    ``expr`` (row groups outside a uri prefix are skipped by their statistics), only
    ``columns``. An S3 object is spooled to a temp file, never held in memory."""
    cp = snapshot.checkpoint
    if cp is None or cp.manifest is None:
        return
    one_at_a_time = ds.ParquetFileFormat(  # a row group at a time, nothing read ahead
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False))
    pool = pa.default_memory_pool()
    with lake.store.local_path(cp.manifest) as path:
        dataset = ds.dataset(str(path), format=one_at_a_time, schema=MANIFEST_SCHEMA)
        for batch in dataset.to_batches(columns=columns, filter=expr, batch_size=65_536,
                                        batch_readahead=0, fragment_readahead=0):
            yield batch
            pool.release_unused()  # else the allocator keeps what each row group needed


def read_checkpoint_manifest(lake: Lake, snapshot: Snapshot, prefix: str | None = None,
                             doc_ids: Iterable[str] | None = None) -> pa.Table:
    """Rows of the checkpoint's reduced manifest, only under ``prefix`` (row groups outside
    it are skipped by their statistics) or only of ``doc_ids``."""
    expr = _prefix_filter(prefix)
    if doc_ids is not None:
        ids = pc.field("doc_id").isin(sorted(set(doc_ids)))
        expr = ids if expr is None else expr & ids
    return pa.Table.from_batches(list(checkpoint_batches(lake, snapshot, expr)), MANIFEST_SCHEMA)


def _digests(fps: pa.Array) -> np.ndarray:
    """A ``binary(16)`` column as an "S16" array, without a Python object per value."""
    if not len(fps):
        return np.empty(0, "S16")
    return np.frombuffer(fps.buffers()[1], "S16", count=len(fps), offset=fps.offset * 16).copy()


def tail_states(lake: Lake, snapshot: Snapshot) -> dict[bytes, _State]:
    """Reduced states of the batches committed after the checkpoint."""
    records = snapshot.tail_records()
    docs = lake.read_records("documents", records, DOCUMENT_COLUMNS).to_pylist()
    errors = lake.read_records("errors", records, ["doc_id", "batch_id", "retryable"]).to_pylist()
    return reduce_rows(docs, {(e["doc_id"], e["batch_id"]) for e in errors if e["retryable"]})


def load_manifest(lake: Lake, prefix: str | None = None,
                  snapshot: Snapshot | None = None) -> Manifest:
    """The manifest for a run over source objects whose uris start with ``prefix``."""
    snapshot = snapshot or lake.snapshot()
    tail = tail_states(lake, snapshot)
    done_parts: list[np.ndarray] = []  # the checkpoint's done fingerprints, 16 bytes each
    open_rows: list[dict[str, Any]] = []
    for batch in checkpoint_batches(lake, snapshot, _prefix_filter(prefix),
                                    ["fp", "doc_id", "pages", "done", "covered", "retries"]):
        done = pc.fill_null(batch["done"], False)
        done_parts.append(_digests(batch["fp"].filter(done)))
        open_rows.extend(batch.filter(pc.invert(done)).to_pylist())
    digests: list[bytes] = []
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    pages: dict[str, int] = {}
    for row in open_rows:
        flat = row["covered"] or []
        covered[row["doc_id"]].extend(zip(flat[::2], flat[1::2], strict=True))
        pages[row["doc_id"]] = row["pages"] or 0
    manifest = Manifest()
    for row in open_rows:
        if row.get("retries"):
            manifest.retries[row["fp"]] = int(row["retries"])
    for d, st in tail.items():
        if prefix and not st.uri.startswith(prefix):
            continue
        if st.retries:
            manifest.retries[d] = manifest.retries.get(d, 0) + st.retries
        covered[st.doc_id].extend(st.covered)
        pages[st.doc_id] = max(pages.get(st.doc_id, 0), st.pages)
        if st.done:
            digests.append(d)
            manifest.done_doc_ids.add(st.doc_id)
    for row in open_rows:  # an open fingerprint of the checkpoint that the tail completed
        if pages[row["doc_id"]] and not missing_ranges(covered[row["doc_id"]],
                                                       pages[row["doc_id"]]):
            digests.append(row["fp"])
    manifest.done_fingerprints = FingerprintSet(digests, done_parts)
    manifest.covered = {k: v for k, v in covered.items() if v}
    return manifest


def doc_done_elsewhere(lake: Lake, snapshot: Snapshot, doc_ids: Iterable[str]) -> set[str]:
    """Of these documents, those some fingerprint of the lake holds completely: asked only
    when taking over a dead run's claims (one filtered read of the checkpoint)."""
    ids = set(doc_ids)
    if not ids:
        return set()
    table = read_checkpoint_manifest(lake, snapshot, doc_ids=ids)
    done = {r["doc_id"] for r in table.filter(table["done"]).to_pylist()}
    done |= {st.doc_id for st in tail_states(lake, snapshot).values()
             if st.done and st.doc_id in ids}
    return done


def _fold(old: _State, new: _State) -> _State:
    """One fingerprint's state with the rows committed since folded in."""
    old.whole_final |= new.whole_final
    old.covered.extend(new.covered)
    old.pages = max(old.pages, new.pages)
    old.tombstone |= new.tombstone
    old.retries += new.retries
    if new.last_at is not None and (old.last_at is None or new.last_at > old.last_at):
        old.last_at = new.last_at
    return old


def _state_of(row: dict[str, Any]) -> _State:
    flat = row["covered"] or []
    return _State(row["source_uri"], row["doc_id"], row["pages"] or 0, bool(row["done"]),
                  list(zip(flat[::2], flat[1::2], strict=True)), row.get("last_at"),
                  bool(row.get("tombstone")), int(row.get("retries") or 0))


def _table_of(states: Iterable[tuple[bytes, _State]]) -> pa.Table:
    return pa.Table.from_pylist([
        {"fp": d, "source_uri": st.uri, "doc_id": st.doc_id, "pages": st.pages, "done": st.done,
         "covered": None if st.done else [v for r in sorted(st.covered) for v in r],
         "last_at": st.last_at, "tombstone": st.tombstone, "retries": st.retries}
        for d, st in states
    ], MANIFEST_SCHEMA)


def write_manifest(lake: Lake, snapshot: Snapshot, cutoff: str, path: Path) -> int:
    """The next checkpoint's reduced manifest, written to ``path``: the previous one streamed
    through a row group at a time (its rows stay in uri order; the few the new batches touch
    are taken out), then the fingerprints of the batches committed before ``cutoff``, sorted
    by uri, as row groups of their own. Memory: one row group plus the new night's states.
    Returns the rows written."""
    records = [r for r in snapshot.tail_records() if r.log_key < cutoff]
    docs = lake.read_records("documents", records, DOCUMENT_COLUMNS).to_pylist()
    errors = lake.read_records("errors", records, ["doc_id", "batch_id", "retryable"]).to_pylist()
    new = reduce_rows(docs, {(e["doc_id"], e["batch_id"]) for e in errors if e["retryable"]})
    touched = pa.array(list(new), pa.binary(16))
    rows = 0
    with pq.ParquetWriter(str(path), MANIFEST_SCHEMA, compression="zstd") as writer:
        for batch in checkpoint_batches(lake, snapshot):
            table = pa.Table.from_batches([batch], MANIFEST_SCHEMA)
            hit = pc.is_in(table["fp"], touched)
            kept = table.filter(pc.invert(hit))
            if kept.num_rows:
                writer.write_table(kept, row_group_size=100_000)
                rows += kept.num_rows
            for row in table.filter(hit).to_pylist():
                new[row["fp"]] = _fold(_state_of(row), new[row["fp"]])
        if new:
            writer.write_table(_table_of(sorted(new.items(), key=lambda kv: kv[1].uri)),
                               row_group_size=100_000)
            rows += len(new)
    return rows


class UriSet:
    """Digests of the uris a run listed (16 bytes each), for finding what disappeared."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._sorted: np.ndarray | None = None

    def add(self, uri: str) -> None:
        self._buf += hashlib.blake2b(uri.encode("utf-8", "surrogateescape"),
                                     digest_size=16).digest()
        self._sorted = None

    def __contains__(self, uri: object) -> bool:
        if self._sorted is None:
            self._sorted = np.sort(np.frombuffer(bytes(self._buf), dtype="S16"))
        d = hashlib.blake2b(str(uri).encode("utf-8", "surrogateescape"), digest_size=16).digest()
        i = int(np.searchsorted(self._sorted, d))
        # tobytes: indexing an "S16" array strips trailing zero bytes from the digest
        return i < len(self._sorted) and self._sorted[i:i + 1].tobytes() == d


def vanished(lake: Lake, prefix: str, listed: UriSet) -> list[tuple[str, str]]:
    """(uri, doc id) of source objects under ``prefix`` whose latest version in the lake is
    not a tombstone and that the complete listing ``listed`` no longer has."""
    snapshot = lake.snapshot()
    latest: dict[str, tuple[Any, bool, str]] = {}  # uri -> (last_at, tombstone, doc id)

    def see(uri: str, at: Any, tombstone: bool, doc_id: str) -> None:
        if uri in listed:
            return
        now = latest.get(uri)
        key = (at is not None, at)
        if now is None or key >= (now[0] is not None, now[0]):
            latest[uri] = (at, tombstone, doc_id)

    columns = ["source_uri", "last_at", "tombstone", "doc_id"]
    for batch in checkpoint_batches(lake, snapshot, _prefix_filter(prefix), columns):
        for row in batch.to_pylist():  # one row group at a time: memory holds the gone ones
            see(row["source_uri"], row["last_at"], bool(row["tombstone"]), row["doc_id"])
    for st in tail_states(lake, snapshot).values():
        if st.uri.startswith(prefix):
            see(st.uri, st.last_at, st.tombstone, st.doc_id)
    return sorted((uri, doc_id) for uri, (_, dead, doc_id) in latest.items() if not dead)
