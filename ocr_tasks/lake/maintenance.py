"""Keeping the lake cheap to open: checkpoints of the commit log, compaction of small files.

Both run beside ingestion. A checkpoint only folds log entries older than the log's margin
(``lake.log``); a compaction writes a larger file, commits a *rewrite* entry that points the
batches at it, and deletes the small files only after the margin has passed, so a reader
that planned its reads on the previous snapshot still finds every file it named.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ocr_tasks.core.concurrency import parallel_map
from ocr_tasks.core.errors import LakeBusy
from ocr_tasks.lake.log import Checkpoint, Rewrite
from ocr_tasks.lake.manifest import write_manifest
from ocr_tasks.lake.schema import PARTITION_COLUMN, TABLES, conform
from ocr_tasks.lake.tables import Lake, data_key, partition_of

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 200  # log entries past the cutoff worth folding into a new checkpoint
TARGET_BYTES = 128 * 1024 * 1024
PENDING_DELETES = "_maintenance/pending_deletes"


def checkpoint(lake: Lake) -> Checkpoint | None:
    """Fold every log entry older than the margin into a new checkpoint (commits and the
    reduced manifest); None when there was nothing to fold or another process won."""
    snapshot = lake.snapshot()
    cutoff = lake.log.cutoff_now()
    if not any(e.log_key < cutoff for e in snapshot.tail):
        return None
    with tempfile.TemporaryDirectory(prefix="ocr-checkpoint-") as tmp:
        path = Path(tmp) / "manifest.parquet"
        rows = write_manifest(lake, snapshot, cutoff, path)
        made = lake.log.write_checkpoint(snapshot, cutoff, path)
    if made is not None:
        log.info("checkpoint %d: %d batches, %d source documents", made.seq, made.batches, rows)
    return made


def maybe_checkpoint(lake: Lake, every: int = CHECKPOINT_EVERY) -> Checkpoint | None:
    """A checkpoint when at least ``every`` log entries could be folded (run end)."""
    checkpoint_ = lake.log.latest_checkpoint()
    cutoff = lake.log.cutoff_now()
    keys = lake.log.tail_keys(checkpoint_.cutoff if checkpoint_ else None)
    if sum(k < cutoff for k in keys) < every:
        return None
    return checkpoint(lake)


@dataclass
class CompactReport:
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (files in, out)
    deleted: int = 0
    checkpoint: int | None = None

    def describe(self) -> str:
        parts = [f"{t}: {a} files -> {b}" for t, (a, b) in sorted(self.tables.items())]
        cp = f"; checkpoint {self.checkpoint}" if self.checkpoint else ""
        return ("compacted " + (", ".join(parts) or "nothing") +
                f"; {self.deleted} superseded files deleted{cp}")


def _small_files(lake: Lake, target_bytes: int) -> dict[tuple[str, str], list[tuple[str, dict]]]:
    """(table, day) -> [(file, {batch: rows})] of committed files below a quarter target."""
    groups: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(dict)
    for record in lake.snapshot().records():
        for name, entry in record.tables.items():
            if entry.file and entry.rows:
                groups[(name, partition_of(entry.file))].setdefault(entry.file, {})[
                    record.batch_id] = entry.rows
    sizes = {i.key: i.size for name in TABLES for i in lake.store.list(f"{name}/")}
    out: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for key, files in groups.items():
        small = [(f, b) for f, b in sorted(files.items()) if sizes.get(f, 0) < target_bytes // 4]
        if len(small) > 1:
            out[key] = small
    return out


def compact(lake: Lake, *, target_bytes: int = TARGET_BYTES,
            delete_after_s: float | None = None) -> CompactReport:
    """Rewrite each partition's small committed files into files of about ``target_bytes``.

    Safe while ingestion runs: new batches are untouched (only committed files are read), the
    rewrite is one log entry, and the small files are deleted by a later compaction once
    ``delete_after_s`` (default: the log's margin) has passed. One compaction at a time per
    lake (a conditional marker object); a second one says so and stops.
    """
    marker = "_maintenance/compacting.json"
    if not lake.store.put_if_absent(marker, json.dumps(
            {"at": datetime.now(UTC).isoformat()}).encode()):
        raise LakeBusy(f"another compaction of {lake.uri} is running (remove {marker} if its "
                       "process died)")
    report = CompactReport()
    try:
        report.deleted = _delete_due(lake)
        for (name, day), files in sorted(_small_files(lake, target_bytes).items()):
            written = _rewrite(lake, name, day, files, target_bytes,
                               lake.log.margin_s if delete_after_s is None else delete_after_s)
            report.tables[name] = (report.tables.get(name, (0, 0))[0] + len(files),
                                   report.tables.get(name, (0, 0))[1] + written)
        made = checkpoint(lake)
        report.checkpoint = made.seq if made else None
    finally:
        lake.store.delete(marker)
    return report


def _rewrite(lake: Lake, name: str, day: str, files: list[tuple[str, dict]], target: int,
             delete_after_s: float) -> int:
    tables = parallel_map(lambda f: conform(pq.read_table(io.BytesIO(lake.store.get(f[0]))),
                                            name), files)
    groups: list[list[int]] = [[]]
    size = 0
    for i, table in enumerate(tables):
        if groups[-1] and size + table.nbytes > target:
            groups.append([])
            size = 0
        groups[-1].append(i)
        size += table.nbytes
    for group in groups:
        merged = pa.concat_tables([tables[i] for i in group])
        key = data_key(name, day, f"compact-{uuid.uuid4().hex[:16]}")
        buf = io.BytesIO()
        pq.write_table(merged, buf, compression="zstd", row_group_size=256_000)
        lake.store.put(key, buf.getvalue())
        batches = {b: rows for i in group for b, rows in files[i][1].items()}
        removed = tuple(files[i][0] for i in group)
        lake.log.rewrite(Rewrite(name, key, merged.num_rows, batches, removed))
        due = (datetime.now(UTC) + timedelta(seconds=delete_after_s)).isoformat()
        lake.store.put(f"{PENDING_DELETES}/{uuid.uuid4().hex}.json",
                       json.dumps({"due": due, "keys": list(removed)}).encode())
    return len(groups)


def superseded_files(lake: Lake) -> set[str]:
    """Small files a compaction replaced, waiting out their grace before deletion."""
    return {key for info in lake.store.list(f"{PENDING_DELETES}/")
            for key in json.loads(lake.store.get(info.key))["keys"]}


def _delete_due(lake: Lake) -> int:
    """Delete superseded small files whose grace has passed."""
    deleted = 0
    now = datetime.now(UTC).isoformat()
    for info in lake.store.list(f"{PENDING_DELETES}/"):
        todo = json.loads(lake.store.get(info.key))
        if todo["due"] > now:
            continue
        for key in todo["keys"]:
            lake.store.delete(key)
            deleted += 1
        lake.store.delete(info.key)
    return deleted


__all__ = ["PARTITION_COLUMN", "CompactReport", "checkpoint", "compact", "maybe_checkpoint"]
