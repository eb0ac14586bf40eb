"""Run start and ``verify`` on long-lived lakes of 100k and 1M documents, and what 10M costs.

    .venv/bin/python bench/lake_scale.py [--documents 100000 1000000] [--quick] [--json OUT]
                                         [--keep DIR] [--old-verify REV]
                                         [--no-checkpoint-upto N] [--repeat N] [--docs-per-day N]
                                         [--lines-per-page N] [--words-per-line N]

Generates, in a temp folder, a lake as a long-lived one looks after nightly runs and
``ocr-pipeline compact``, with the real schemas and layout:

* history: one nightly run per day (``--docs-per-day``, default 5,000 documents), documents of
  1-130 pages (mean about 3: 42 % one page, 23 % two, 15 % three, ... 0.4 % 130) packed into
  64-page batches by the planner's rule (greedy in source order, documents longer than 64
  pages split into segments); 1.5 % corrupt (document error), 1 % duplicates, 1.5 % partial (a
  page error), 0.5 % of batches failed once (retryable ``batch_failed`` history) and were
  redone; ``--lines-per-page`` x ``--words-per-line`` rows per page (default 3 x 3), each with
  text, confidence, box and polygon; 2 canary ``cer_samples`` and one ``batches`` row per
  batch, one ``runs`` row per night. Each day's rows are one compacted file per table
  (``compact-<id>.parquet``), exactly what ``compact`` leaves once the small files' grace has
  passed; every batch has its original log entry, the compaction's rewrite entries and its
  pointer record (moved to the compacted files), and the checkpoint is made by
  ``maintenance.checkpoint`` itself (``CommitLog.write_checkpoint`` with the manifest that
  ``manifest.write_manifest`` reduces).
* the tail: last night's run (one day of documents) written batch by batch through
  ``Lake.write_batch`` (the real commit protocol), after the checkpoint; their source objects
  exist in the source folder.
* a dead run: an expired lease and two data files it never committed (the sweep's work).
* the nightly drop: 1,000 new source objects. The history documents' uris lie under the same
  source prefix (so the manifest holds all of them) but their files are not created: listing
  a million local files would measure the file system, not the lake. Not generated: the
  claim objects (``_claims/``, one per document), which neither run start nor verify reads.

Then, each in a fresh subprocess (peak RSS: the process's VmHWM; RSS after imports given
too), it measures (a) run start: ``pipeline.job.start_run`` (lease, dead-run sweep,
``load_manifest`` for the source prefix) and filtering the source listing against the
manifest (the drop's 1,000 objects must come out, last night's not); (b) on lakes up to
``--no-checkpoint-upto`` documents (default 100k), the same with the checkpoint moved aside,
so every log entry and every documents row of the history is read; (c) ``verify_lake``;
last, (d) the checkpoint a run's end makes once the previous night's entries are past the
margin (``maintenance.checkpoint`` folding the tail). ``--old-verify REV`` also runs
``verify`` as of that git revision (``b9e53ae``: before it streamed) on sizes up to 100k.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

# The figures at 500k documents (local disk), before checkpoints and streaming verify.
OLD = {"documents": 500_000, "start_s": 72.0, "start_rss_mb": 1640.0, "verify_s": 177.0,
       "verify_rss_mb": 12500.0}
MODEL = "ppocrv6s-torch1-5ff02e50-latin"
PAGES = np.array([1, 2, 3, 4, 6, 10, 130])
PAGE_P = np.array([0.42, 0.23, 0.15, 0.09, 0.06, 0.046, 0.004])
OK, PARTIAL, ERROR, DUPLICATE = 0, 1, 2, 3
STATUS = pa.array(["ok", "partial", "error", "duplicate"])


@dataclass(frozen=True)
class Shape:
    documents: int
    docs_per_day: int = 5000
    lines_per_page: int = 3
    words_per_line: int = 3
    batch_pages: int = 64
    drop: int = 1000
    seed: int = 7


# -------------------------------------------------------------------------- generation


def _write(root: Path, key: str, data: bytes) -> None:
    """Bulk history bytes straight to disk (the store's put fsyncs every object)."""
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _table(name: str, columns: dict[str, Any]) -> pa.Table:
    from ocr_tasks.lake.schema import SCHEMAS

    schema = SCHEMAS[name]
    arrays = []
    for f in schema:
        value = columns[f.name]
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks()
        typed = value.cast(f.type) if isinstance(value, pa.Array) else pa.array(value, f.type)
        arrays.append(typed)
    return pa.Table.from_arrays(arrays, schema=schema)


def _ts(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype(np.int64)).cast(pa.timestamp("us", tz="UTC"))


def _micros(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


class Day:
    """One nightly run's documents, batches and rows (vectorized)."""

    def __init__(self, rng: np.random.Generator, shape: Shape, day: str, run_id: str,
                 ids: list[str], uris: pa.Array, sizes: np.ndarray, mtimes: np.ndarray,
                 earlier_ids: list[str]) -> None:
        from ocr_tasks.lake.rows import run_tag

        n = len(ids)
        self.day, self.run_id, self.shape = day, run_id, shape
        self.ids, self.uris, self.sizes, self.mtimes = ids, uris, sizes, mtimes
        self.pages = rng.choice(PAGES, size=n, p=PAGE_P)
        u = rng.random(n)
        self.outcome = np.where(u < 0.015, ERROR, np.where(u < 0.025, DUPLICATE, np.where(
            (u < 0.04) & (self.pages > 1), PARTIAL, OK)))
        if not earlier_ids:  # a duplicate needs an original in the lake
            self.outcome[self.outcome == DUPLICATE] = OK
        self.ids = [earlier_ids[int(rng.integers(len(earlier_ids)))] if o == DUPLICATE else i
                    for i, o in zip(ids, self.outcome, strict=True)]
        # the planner's packing: greedy in source order, long documents in 64-page segments
        item_doc, item_start, item_end, item_batch = [], [], [], []
        batch, cost = 0, 0
        for d in range(n):
            whole = self.outcome[d] in (ERROR, DUPLICATE)
            spans = [(0, 0)] if whole else [(s, min(int(self.pages[d]), s + shape.batch_pages))
                                            for s in range(0, int(self.pages[d]),
                                                           shape.batch_pages)]
            for s, e in spans:
                c = max(1, e - s)
                if cost and cost + c > shape.batch_pages:
                    batch, cost = batch + 1, 0
                item_doc.append(d)
                item_start.append(s)
                item_end.append(e)
                item_batch.append(batch)
                cost += c
        self.item_doc = np.array(item_doc)
        self.item_start = np.array(item_start, np.int32)
        self.item_end = np.array(item_end, np.int32)
        self.item_batch = np.array(item_batch)
        batches = batch + 1
        tag = run_tag(run_id)
        digests = [hashlib.sha256() for _ in range(batches)]
        for d, s, e, b in zip(item_doc, item_start, item_end, item_batch, strict=True):
            digests[b].update(f"{uris[d]}\0{self.ids[d]}\0{s}\0{e}\n".encode())
        self.batch_ids = [f"{tag}-b{h.hexdigest()[:20]}" for h in digests]
        # 0.5 % of the batches failed once and were redone: a "-failed" batch of history
        self.failed = np.flatnonzero(rng.random(batches) < 0.005)
        self.batch_ids += [self.batch_ids[b] + "-failed" for b in self.failed]
        start = datetime.fromisoformat(day).replace(hour=1, minute=30, tzinfo=UTC)
        self.committed = [start + timedelta(seconds=2 * b, microseconds=b)
                          for b in range(len(self.batch_ids))]
        self.rng = rng

    def tables(self) -> dict[str, pa.Table]:
        """Every table's rows of the night, with a batch index per row in ``_b``."""
        rng, shape = self.rng, self.shape
        ids = pa.array(self.ids, pa.string())
        batch_ids = pa.array(self.batch_ids, pa.string())
        ingested = _micros(self.committed[0])
        nb = len(self.batch_ids) - len(self.failed)
        # documents: every item, then the failed attempts' items (status error, same segment)
        # (a failed batch's duplicates are final already: only its other items are redone)
        fail_items = np.flatnonzero(np.isin(self.item_batch, self.failed)
                                    & (self.outcome[self.item_doc] != DUPLICATE))
        fail_batch = nb + np.searchsorted(self.failed, self.item_batch[fail_items])
        doc = np.r_[self.item_doc, self.item_doc[fail_items]]
        item_b = np.r_[self.item_batch, fail_batch]
        status = np.r_[self.outcome[self.item_doc],
                       np.full(len(fail_items), ERROR)].astype(np.int32)
        start = np.r_[self.item_start, self.item_start[fail_items]]
        end = np.r_[self.item_end, self.item_end[fail_items]]
        pages_col = np.where(status == ERROR, np.where(np.arange(len(doc)) < len(self.item_doc),
                                                       0, self.pages[doc]), self.pages[doc])
        docs = _table("documents", {
            "doc_id": ids.take(pa.array(doc)), "source_uri": self.uris.take(pa.array(doc)),
            "bytes": self.sizes[doc], "pages": pages_col, "page_start": start, "page_end": end,
            "status": STATUS.take(pa.array(status)), "format": pa.repeat("pdf", len(doc)),
            "source_mtime": _ts(self.mtimes[doc]), "source_etag": pa.nulls(len(doc)),
            "run_id": pa.repeat(self.run_id, len(doc)),
            "batch_id": batch_ids.take(pa.array(item_b)),
            "model_version": pa.repeat(MODEL, len(doc)),
            "ingested_at": _ts(np.full(len(doc), ingested)), "exports": pa.nulls(len(doc)),
        })
        # pages of ok and partial items; a partial document's first page is an error instead
        ocr = np.flatnonzero(np.isin(self.outcome[self.item_doc], (OK, PARTIAL)))
        counts = (self.item_end - self.item_start)[ocr]
        p_item = np.repeat(ocr, counts)
        p_page = self.item_start[p_item] + (np.arange(len(p_item)) - np.repeat(
            np.cumsum(counts) - counts, counts))
        errored = (self.outcome[self.item_doc[p_item]] == PARTIAL) & (p_page == 0)
        e_item, e_page = p_item[errored], p_page[errored]
        p_item, p_page = p_item[~errored], p_page[~errored]
        n_pages = len(p_item)
        lp, wl = shape.lines_per_page, shape.words_per_line
        text = pa.array([f"Claim CLM-2025-{k:06d} Insured amount EUR {k * 37 % 9000}.00 "
                         f"policy {k % 977} page text" for k in range(997)])
        conf = rng.uniform(0.8, 1.0, n_pages).astype(np.float32)
        p_doc = ids.take(pa.array(self.item_doc[p_item]))
        p_batch = batch_ids.take(pa.array(self.item_batch[p_item]))
        pages = _table("pages", {
            "doc_id": p_doc, "page": p_page, "text": text.take(pa.array(np.arange(n_pages) % 997)),
            "confidence": conf, "width": np.full(n_pages, 1654), "height": np.full(n_pages, 2339),
            "dpi": np.full(n_pages, 200.0), "rotation": np.zeros(n_pages, np.int64),
            "skew_angle": rng.normal(0, 0.3, n_pages), "n_lines": np.full(n_pages, lp),
            "n_words": np.full(n_pages, lp * wl), "needs_review": conf < 0.82,
            "model_name": pa.repeat("ppocrv6s", n_pages),
            "model_version": pa.repeat(MODEL, n_pages),
            "t_rasterize_ms": rng.uniform(50, 90, n_pages),
            "t_preprocess_ms": rng.uniform(5, 9, n_pages),
            "t_detect_ms": rng.uniform(300, 500, n_pages),
            "t_recognize_ms": rng.uniform(900, 1500, n_pages),
            "run_id": pa.repeat(self.run_id, n_pages), "batch_id": p_batch,
            "text_source": pa.repeat("ocr", n_pages),
        })
        words_text = pa.array([f"w{k:04d}" for k in range(2000)])
        line_rows = np.repeat(np.arange(n_pages), lp)
        lines = self._boxes("lines", n_pages * lp, {
            "doc_id": p_doc.take(pa.array(line_rows)), "page": p_page[line_rows],
            "line": np.tile(np.arange(lp), n_pages),
            "text": words_text.take(pa.array(rng.integers(0, 2000, n_pages * lp))),
            "batch_id": p_batch.take(pa.array(line_rows)),
        })
        word_rows = np.repeat(np.arange(n_pages * lp), wl)
        words = self._boxes("words", n_pages * lp * wl, {
            "doc_id": lines["doc_id"].take(pa.array(word_rows)),
            "page": p_page[line_rows][word_rows],
            "line": np.tile(np.arange(lp), n_pages)[word_rows],
            "word": np.tile(np.arange(wl), n_pages * lp),
            "text": words_text.take(pa.array(rng.integers(0, 2000, n_pages * lp * wl))),
            "batch_id": lines["batch_id"].take(pa.array(word_rows)),
        })
        # errors: corrupt documents, partial documents' page, failed batches (retryable)
        whole = np.flatnonzero(self.outcome[self.item_doc] == ERROR)
        err_doc = np.r_[self.item_doc[whole], self.item_doc[e_item], self.item_doc[fail_items]]
        err_b = np.r_[self.item_batch[whole], self.item_batch[e_item], fail_batch]
        n_err = len(err_doc)
        kinds = (["corrupt"] * len(whole) + ["too_large"] * len(e_item)
                 + ["batch_failed"] * len(fail_items))
        errors = _table("errors", {
            "doc_id": ids.take(pa.array(err_doc)), "source_uri": self.uris.take(pa.array(err_doc)),
            "page": pa.array(np.r_[np.zeros(len(whole)), e_page, np.zeros(len(fail_items))],
                             mask=np.r_[np.ones(len(whole), bool), np.zeros(len(e_item), bool),
                                        np.ones(len(fail_items), bool)]).cast(pa.int32()),
            "kind": kinds, "message": [f"{k}: synthetic" for k in kinds],
            "retryable": np.r_[np.zeros(len(whole) + len(e_item), bool),
                               np.ones(len(fail_items), bool)],
            "run_id": pa.repeat(self.run_id, n_err), "batch_id": batch_ids.take(pa.array(err_b)),
            "occurred_at": _ts(np.full(n_err, ingested)),
        })
        nbt = len(self.batch_ids)
        cer_b = np.repeat(np.arange(nbt), 2)
        ns = 2 * nbt
        cer = _table("cer_samples", {
            "sample_id": [f"{self.batch_ids[b]}-c{k % 2}" for k, b in enumerate(cer_b)],
            "run_id": pa.repeat(self.run_id, ns), "batch_id": batch_ids.take(pa.array(cer_b)),
            "source": pa.repeat("canary", ns), "doc_id": pa.nulls(ns),
            "page": np.zeros(ns, np.int64), "level": pa.repeat("page", ns),
            "reference": text.take(pa.array(cer_b % 997)),
            "prediction": text.take(pa.array(cer_b % 997)), "edits": np.zeros(ns, np.int64),
            "ref_chars": np.full(ns, 60), "cer": np.zeros(ns), "confidence": np.full(ns, 0.97),
            "model_version": pa.repeat(MODEL, ns), "created_at": _ts(np.full(ns, ingested)),
        })
        per = np.bincount(self.item_batch[p_item], minlength=nbt)
        batches = _table("batches", {
            "batch_id": batch_ids, "run_id": pa.repeat(self.run_id, nbt),
            "documents": np.bincount(item_b, minlength=nbt), "pages": per,
            "errors": np.bincount(err_b, minlength=nbt), "canary_pages": np.full(nbt, 2),
            "seconds": per * 1.7, "pages_per_s": np.full(nbt, 0.6), "cer": np.zeros(nbt),
            "cer_low": np.zeros(nbt), "cer_high": np.full(nbt, 0.01),
            "worker": pa.repeat("gpu-0", nbt),
            "model_version": pa.repeat(MODEL, nbt),
        })
        out = {"documents": docs, "pages": pages, "lines": lines, "words": words,
               "errors": errors, "cer_samples": cer, "batches": batches}
        index = {"documents": item_b, "pages": self.item_batch[p_item],
                 "lines": self.item_batch[p_item][line_rows],
                 "words": self.item_batch[p_item][line_rows][word_rows], "errors": err_b,
                 "cer_samples": cer_b, "batches": np.arange(nbt)}
        return {name: t.append_column("_b", pa.array(index[name])) for name, t in out.items()}

    def _boxes(self, name: str, n: int, cols: dict[str, Any]) -> pa.Table:
        rng = self.rng
        x0 = rng.uniform(0, 1400, n).astype(np.float32)
        y0 = rng.uniform(0, 2200, n).astype(np.float32)
        x1, y1 = x0 + 120, y0 + 30
        polygon = np.stack([x0, y0, x1, y0, x1, y1, x0, y1], axis=1).reshape(-1)
        offsets = pa.array(np.arange(0, 8 * n + 1, 8, dtype=np.int32))
        return _table(name, {
            **cols, "confidence": rng.uniform(0.7, 1.0, n).astype(np.float32),
            "x0": x0, "y0": y0, "x1": x1, "y1": y1,
            "polygon": pa.ListArray.from_arrays(offsets, pa.array(polygon, pa.float32())),
            "model_version": pa.repeat(MODEL, n), "run_id": pa.repeat(self.run_id, n),
        })


def generate(lake_dir: Path, source_dir: Path, shape: Shape) -> dict[str, Any]:
    """Write the lake (history compacted and checkpointed, then the tail through the commit
    protocol), the dead run, and the source folder; returns what was made."""
    from ocr_tasks.io.storage import LocalStore
    from ocr_tasks.lake.commits import CommitRecord, TableFile
    from ocr_tasks.lake.leases import Lease, lease_key
    from ocr_tasks.lake.log import Rewrite, entry_key, pointer_key
    from ocr_tasks.lake.maintenance import checkpoint
    from ocr_tasks.lake.rows import BatchContext, RunRow, run_tag
    from ocr_tasks.lake.tables import Lake, data_key

    t0 = time.perf_counter()
    rng = np.random.default_rng(shape.seed)
    lake = Lake(LocalStore(lake_dir))
    source = LocalStore(source_dir)
    root = source.root_uri
    per_day = min(shape.docs_per_day, shape.documents)
    tail_docs = per_day
    history_docs = shape.documents - tail_docs
    days = max(1, -(-history_docs // per_day))
    today = datetime.now(UTC).date()
    first_day = today - timedelta(days=days + 1)
    made = {"documents": 0, "pages": 0, "lines": 0, "words": 0, "batches": 0, "days": days}
    earlier: list[str] = []

    def new_ids(n: int) -> list[str]:
        hexes = rng.bytes(32 * n).hex()
        return [hexes[64 * i: 64 * (i + 1)] for i in range(n)]

    def count(tables: dict[str, pa.Table], nbatches: int) -> None:
        for name in ("pages", "lines", "words"):
            made[name] += tables[name].num_rows
        made["documents"] += tables["documents"].num_rows
        made["batches"] += nbatches

    done = 0
    for k in range(days):
        day = (first_day + timedelta(days=k)).isoformat()
        n = min(per_day, history_docs - done)
        numbers = np.arange(done, done + n)
        uris = pa.array([f"{root}/archive/{day}/{m:08d}.pdf" for m in numbers])
        day_start = _micros(datetime.fromisoformat(day).replace(tzinfo=UTC))
        mtimes = day_start - rng.integers(3_600_000_000, 86_400_000_000, n)
        run_id = uuid.UUID(bytes=rng.bytes(16)).hex
        night = Day(rng, shape, day, run_id, new_ids(n), uris, rng.integers(20_000, 4_000_000, n),
                    mtimes, earlier[-50_000:])
        earlier.extend(i for i, o in zip(night.ids, night.outcome, strict=True) if o != DUPLICATE)
        tables = night.tables()
        count(tables, len(night.batch_ids))
        rows_of: dict[str, np.ndarray] = {}
        compacted: dict[str, str] = {}
        for name, table in tables.items():
            key = data_key(name, day, f"compact-{rng.bytes(8).hex()}")
            data = table.drop_columns(["_b"])
            (lake_dir / key).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(data, lake_dir / key, compression="zstd", row_group_size=256_000)
            rows_of[name] = np.bincount(table["_b"].to_numpy(), minlength=len(night.batch_ids))
            compacted[name] = key
        records = []
        for b, batch_id in enumerate(night.batch_ids):
            when = night.committed[b]
            files = {name: TableFile(int(rows_of[name][b]),
                                     data_key(name, day, batch_id) if rows_of[name][b] else None)
                     for name in tables}
            record = CommitRecord(batch_id, run_id, day, MODEL, files, when.isoformat(),
                                  entry_key(when, batch_id))
            _write(lake_dir, record.log_key, record.to_json())
            records.append(record)
        compacted_at = datetime.fromisoformat(day).replace(hour=3, tzinfo=UTC) + timedelta(days=1)
        for i, (name, key) in enumerate(compacted.items()):
            batches = {r.batch_id: r.tables[name].rows for r in records if r.tables[name].file}
            removed = tuple(str(r.tables[name].file) for r in records if r.tables[name].file)
            when = compacted_at + timedelta(microseconds=i)
            rewrite = Rewrite(name, key, sum(batches.values()), batches, removed,
                              entry_key(when, f"rewrite-{name}"))
            _write(lake_dir, rewrite.log_key, rewrite.to_json())
        for record in records:
            moved = {name: TableFile(t.rows, compacted[name] if t.file else None)
                     for name, t in record.tables.items()}
            _write(lake_dir, pointer_key(record.batch_id), replace(record, tables=moved).to_json())
        started = night.committed[0]
        lake.write_run(RunRow(run_id, "nightly_ingest", "{}", "completed", started,
                              started + timedelta(hours=2), n, tables["pages"].num_rows,
                              tables["errors"].num_rows, 7200.0, 1.0, 0.01, 0.0, 0.02,
                              lake.uri, MODEL))
        done += n
    t_history = time.perf_counter() - t0
    made_cp = checkpoint(lake)
    assert made_cp is not None, "the history should fold into a checkpoint"
    t_checkpoint = time.perf_counter() - t0 - t_history

    # last night's run, through the real commit protocol; its objects exist in the source
    for m in range(tail_docs):
        source.put(f"tail/{m:06d}.pdf", b"%PDF-1.4 tail " + str(m).encode())
    listed = list(source.list("tail/"))
    run_id = uuid.UUID(bytes=rng.bytes(16)).hex
    day = today.isoformat()
    night = Day(rng, shape, day, run_id, new_ids(len(listed)),
                pa.array([source.uri(i.key) for i in listed]), np.array([i.size for i in listed]),
                np.array([_micros(i.mtime) for i in listed]), earlier[-50_000:])
    tables = night.tables()
    count(tables, len(night.batch_ids))
    ctx_rows = {name: t.sort_by("_b") for name, t in tables.items()}
    bounds = {name: np.searchsorted(t["_b"].to_numpy(), np.arange(len(night.batch_ids) + 1))
              for name, t in ctx_rows.items()}
    for b, batch_id in enumerate(night.batch_ids):
        rows = {name: t.slice(bounds[name][b], bounds[name][b + 1] - bounds[name][b])
                .drop_columns(["_b"]).to_pylist() for name, t in ctx_rows.items()}
        lake.write_batch(BatchContext(run_id, batch_id, day, MODEL), rows)
    t_tail = time.perf_counter() - t0 - t_history - t_checkpoint

    # a run that died: its lease expired, two files it never committed
    dead = uuid.UUID(bytes=rng.bytes(16)).hex
    past = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    lake.store.put(lease_key(dead), Lease(dead, "nightly_ingest", root, day, "host", 1, past, past,
                                          past).to_json())
    for name in ("documents", "pages"):
        lake.store.put(data_key(name, day, f"{run_tag(dead)}-bdead0000"), b"PAR1 half-written")
    # the nightly drop: new objects
    for m in range(shape.drop):
        source.put(f"drop/{m:06d}.pdf", b"%PDF-1.4 new " + str(m).encode())
    files = sum(len(f) for _, _, f in os.walk(lake_dir))
    size = sum(os.path.getsize(os.path.join(d, x)) for d, _, f in os.walk(lake_dir) for x in f)
    return {**made, "tail_batches": len(night.batch_ids), "files": files,
            "lake_mb": size / 1e6, "generate_s": time.perf_counter() - t0,
            "history_s": t_history, "checkpoint_s": t_checkpoint, "tail_s": t_tail,
            "checkpoint_batches": made_cp.batches}


# ------------------------------------------------------------------------- measurement


def _rss_mb() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec (``ru_maxrss`` of a child
    carries over the peak of the process that forked it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(what: str, lake_dir: str, source_dir: str, old_rev: str | None) -> dict[str, Any]:
    """Run in a fresh process: one measurement, JSON on stdout."""
    from ocr_tasks.io.storage import open_store
    from ocr_tasks.lake.tables import Lake

    if what == "checkpoint":
        from ocr_tasks.lake.maintenance import checkpoint
    elif what == "start":  # what the flow process has imported when it starts a run
        from ocr_tasks.pipeline.discovery import list_candidates
        from ocr_tasks.pipeline.job import IngestRequest, abandon_run, start_run
    elif old_rev:
        import importlib.util

        code = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{old_rev}:ocr_tasks/lake/verify.py"],
            check=True, capture_output=True).stdout
        path = Path(tempfile.mkdtemp()) / "old_verify.py"
        path.write_bytes(code)
        spec = importlib.util.spec_from_file_location("old_verify", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["old_verify"] = module
        spec.loader.exec_module(module)
        verify_lake = module.verify_lake
    else:
        from ocr_tasks.lake.verify import verify_lake
    base = _rss_mb()
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if what == "start":
        state = start_run(IngestRequest(source=source_dir, lake=lake_dir))
        t1 = time.perf_counter()
        fresh = list(list_candidates(open_store(source_dir), state.manifest.done_fingerprints))
        out = {"start_s": t1 - t0, "filter_s": time.perf_counter() - t1, "candidates": len(fresh),
               "swept": state.swept, "manifest_mb": state.manifest.done_fingerprints.nbytes / 1e6,
               "done_fingerprints": len(state.manifest.done_fingerprints)}
        abandon_run(state)
    elif what == "checkpoint":
        lake = Lake.open(lake_dir)
        lake.log.margin_s = 0.0  # the next night: last night's entries are past the margin
        made = checkpoint(lake)
        out = {"batches": made.batches if made else 0}
    else:
        report = verify_lake(Lake.open(lake_dir))
        out = {"ok": report.ok, "problems": [str(p) for p in report.problems[:5]],
               "documents": report.documents, "pages": report.pages}
    return {**out, "seconds": time.perf_counter() - t0, "peak_rss_mb": _rss_mb(),
            "import_rss_mb": base}


def child(what: str, lake_dir: Path, source_dir: Path, old_rev: str | None = None,
          repeat: int = 1) -> dict[str, Any]:
    """A measurement in fresh processes: the fastest of ``repeat`` runs, the highest peak."""
    cmd = [sys.executable, __file__, "--measure", what, "--lake", str(lake_dir),
           "--source", str(source_dir)] + (["--old-verify", old_rev] if old_rev else [])
    runs = []
    for _ in range(repeat):
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "all_seconds": [r["seconds"] for r in runs]}


def run_size(n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    shape = Shape(n, docs_per_day=args.docs_per_day, lines_per_page=args.lines_per_page,
                  words_per_line=args.words_per_line, drop=args.drop)
    lake_dir, source_dir = work / f"lake-{n}", work / f"source-{n}"
    print(f"[{n:,} documents] generating in {work} ...", file=sys.stderr, flush=True)
    made = generate(lake_dir, source_dir, shape)
    print(f"  generated in {made['generate_s']:.0f} s: {made}", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"documents": n, "shape": shape.__dict__, "lake": made}
    result["start"] = child("start", lake_dir, source_dir, repeat=args.repeat)
    assert result["start"]["candidates"] == shape.drop, result["start"]
    print(f"  start: {result['start']}", file=sys.stderr, flush=True)
    result["verify"] = child("verify", lake_dir, source_dir, repeat=args.repeat)
    assert result["verify"]["ok"], result["verify"]["problems"]
    print(f"  verify: {result['verify']}", file=sys.stderr, flush=True)
    if args.old_verify and n <= 100_000:
        result["old_verify"] = child("verify", lake_dir, source_dir, args.old_verify,
                                     repeat=args.repeat)
        print(f"  old verify: {result['old_verify']}", file=sys.stderr, flush=True)
    if n <= args.no_checkpoint_upto:
        checkpoints = lake_dir / "_checkpoints"
        aside = lake_dir.parent / f"checkpoints-aside-{n}"
        checkpoints.rename(aside)
        try:
            result["start_no_checkpoint"] = child("start", lake_dir, source_dir,
                                                  repeat=args.repeat)
        finally:
            aside.rename(checkpoints)
        print(f"  start without checkpoint: {result['start_no_checkpoint']}", file=sys.stderr,
              flush=True)
    result["checkpoint"] = child("checkpoint", lake_dir, source_dir)
    print(f"  checkpoint: {result['checkpoint']}", file=sys.stderr, flush=True)
    if not args.keep:
        shutil.rmtree(lake_dir)
        shutil.rmtree(source_dir)
    return result


# ----------------------------------------------------------------------------- report


def _slope(points: list[tuple[int, float]]) -> float:
    """Growth per document between the two largest sizes; never below 0 (on a shared machine
    a larger lake can time faster than a smaller one: that is noise, not a negative cost)."""
    (n1, y1), (n2, y2) = sorted(points)[-2:]
    return max(0.0, (y2 - y1) / (n2 - n1))


def _fit(points: list[tuple[int, float]], at: int) -> float:
    """Linear from the largest size on, with :func:`_slope`."""
    n2, y2 = max(points)
    return y2 + _slope(points) * (at - n2)


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)


def report(results: list[dict[str, Any]]) -> str:
    """The lakes, then each measurement per size, 10M extrapolated, and the issue's figures."""
    lakes = [["documents", "pages", "lines", "words", "batches", "files", "lake MB",
              "generated in s"]]
    for r in results:
        m = r["lake"]
        lakes.append([f"{r['documents']:,}", f"{m['pages']:,}", f"{m['lines']:,}",
                      f"{m['words']:,}", f"{m['batches']:,}", f"{m['files']:,}",
                      f"{m['lake_mb']:.0f}", f"{m['generate_s']:.0f}"])
    at = 10_000_000
    extrapolate = len(results) >= 2
    head = ["time s / peak RSS MB"] + [f"{r['documents']:,}" for r in results]
    head += [f"{at:,} (linear)"] * extrapolate + [f"{OLD['documents']:,} (issue, before)"]
    old = {"start": (OLD["start_s"], OLD["start_rss_mb"]),
           "verify": (OLD["verify_s"], OLD["verify_rss_mb"])}
    labels = {"start": "run start + drop filter (a)", "start_no_checkpoint":
              "run start, no checkpoint (b)", "verify": "verify (c)",
              "old_verify": "verify before (--old-verify)",
              "checkpoint": "checkpoint at a run's end (d)"}
    figures = [head]
    for part, label in labels.items():
        if not any(part in r for r in results):
            continue
        row = [label]
        for r in results:
            got = r.get(part)
            row.append(f"{got['seconds']:.1f} / {got['peak_rss_mb']:.0f}" if got else "-")
        if extrapolate:
            have = [r for r in results if part in r]
            if len(have) >= 2:
                t = _fit([(r["documents"], r[part]["seconds"]) for r in have], at)
                m = _fit([(r["documents"], r[part]["peak_rss_mb"]) for r in have], at)
                row.append(f"{t:.0f} / {m:.0f}")
            else:
                row.append("-")
        row.append(f"{old[part][0]:.0f} / {old[part][1]:.0f}" if part in old else "-")
        figures.append(row)
    base = min(r["verify"]["import_rss_mb"] for r in results)
    notes = [f"RSS after imports alone: {base:.0f} MB (verify), "
             f"{min(r['start']['import_rss_mb'] for r in results):.0f} MB (run start: the "
             "pipeline's imports)."]
    for r in results:
        s = r["start"]
        notes.append(f"{r['documents']:,}: start_run {s['start_s']:.1f} s + filtering "
                     f"{s['candidates']:,} new of the listing {s['filter_s']:.2f} s; done "
                     f"fingerprints held {s['manifest_mb']:.1f} MB; verify "
                     f"{r['verify']['pages']:,} pages OK")
    if extrapolate:
        for part in ("start", "verify", "checkpoint"):
            dt = _slope([(r["documents"], r[part]["seconds"]) for r in results]) * 1e6
            dm = _slope([(r["documents"], r[part]["peak_rss_mb"]) for r in results]) * 1e6
            notes.append(f"{part}: +{dt:.1f} s and +{dm:.0f} MB per million documents (between "
                         "the two largest lakes; 10M is extrapolated with it)")
    notes += [
        "Grows with documents: run start reads the checkpoint's manifest once (streamed, a row "
        "group at a time) and holds 16 bytes per done fingerprint for the run; verify holds "
        "about 45 bytes per documents row and 9 per page and reads every committed row once "
        "(time grows with lines and words too, memory does not); a checkpoint still reduces "
        "the previous manifest in Python objects.",
        "Does not grow: the lease, the dead-run sweep (one partition listing per table), the "
        "tail (the log after the checkpoint: about one night), the listing of the drop, verify's "
        "memory per file (bounded by compaction's file size), the imports.",
    ]
    return "\n\n".join([_grid(lakes), _grid(figures), "\n".join(notes)])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--documents", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--quick", action="store_true", help="one lake of 20,000 documents")
    p.add_argument("--docs-per-day", type=int, default=5000)
    p.add_argument("--lines-per-page", type=int, default=3)
    p.add_argument("--words-per-line", type=int, default=3)
    p.add_argument("--drop", type=int, default=1000, help="new source objects of the night")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--keep", type=Path, help="generate here and keep the lakes")
    p.add_argument("--old-verify", metavar="REV", help="also time verify as of this revision")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each measurement (but the checkpoint) N times: fastest time, "
                   "highest peak")
    p.add_argument("--no-checkpoint-upto", type=int, default=100_000, metavar="N",
                   help="measure run start without the checkpoint on lakes up to N documents")
    p.add_argument("--measure", choices=["start", "verify", "checkpoint"],
                   help=argparse.SUPPRESS)
    p.add_argument("--lake", help=argparse.SUPPRESS)
    p.add_argument("--source", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.lake, args.source, args.old_verify)))
        return 0
    if args.quick:
        args.documents = [20_000]
    work = args.keep or Path(tempfile.mkdtemp(prefix="lake-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = [run_size(n, args, work) for n in sorted(args.documents)]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "issue_500k": OLD}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
