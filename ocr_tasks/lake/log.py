"""The lake's commit log and checkpoints: what is committed, at a cost that does not grow
with the lake's history.

Layout::

    _commits/<aa>/<batch_id>.json            the batch's record, found by id (aa: hash shard)
    _log/<YYYY-MM-DD>/<HHMMSSffffff>-<name>.json   log entries in commit order, one per commit
    _checkpoints/<seq>.json                  a checkpoint: every entry before its ``cutoff``
    _checkpoints/<seq>/commits.parquet       ... as one Parquet file of records
    _checkpoints/<seq>/manifest.parquet      ... and the manifest reduced from them

A batch commits by writing its data files, then its record (naming the log entry it will
write), then the log entry: a batch is committed exactly when its log entry exists, so a
crash anywhere before leaves nothing visible. A log entry is either a batch's record or a
*rewrite* (compaction: the rows of some batches moved into one larger file).

Readers take the newest checkpoint and the log entries at or after its cutoff (the *tail*).
A checkpoint made at time T covers the entries before T - ``margin``: an entry's key is
stamped right before it is written, so with a margin far above any write's duration (a put
retried for minutes) no entry can appear behind a cutoff after the checkpoint was taken.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ocr_tasks.core.concurrency import parallel_map
from ocr_tasks.core.errors import StorageError
from ocr_tasks.io.storage import ObjectStore
from ocr_tasks.lake.commits import CommitRecord, TableFile

COMMITS = "_commits"
LOG = "_log"
CHECKPOINTS = "_checkpoints"
LOG_FORMAT = 1
LOG_FORMAT_MARKER = "_maintenance/log-format.json"  # written on a lake's first snapshot
DEFAULT_MARGIN_S = 3600.0
CLOCK_SKEW = timedelta(hours=1)  # how far a worker's clock may lag the host that starts runs

COMMIT_COLUMNS = pa.schema([
    ("batch_id", pa.string()), ("run_id", pa.string()), ("ingest_date", pa.string()),
    ("model_version", pa.string()), ("committed_at", pa.string()), ("log_key", pa.string()),
    ("tables", pa.string()), ("exports", pa.string()),
])  # fmt: skip


def pointer_key(batch_id: str) -> str:
    shard = hashlib.sha256(batch_id.encode()).hexdigest()[:2]
    return f"{COMMITS}/{shard}/{batch_id}.json"


def entry_key(when: datetime, name: str) -> str:
    """Log keys sort in commit order: by UTC day folder, then time of day to the microsecond."""
    when = when.astimezone(UTC)
    return f"{LOG}/{when.date().isoformat()}/{when.strftime('%H%M%S%f')}-{name}.json"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Rewrite:
    """Compaction of one table: the rows of ``batches`` now live in ``file``; ``removed``
    are the files they came from (deleted once no reader can still be using them)."""

    table: str
    file: str
    rows: int
    batches: dict[str, int]  # batch id -> its rows in ``file``
    removed: tuple[str, ...]
    log_key: str = ""

    def to_json(self) -> bytes:
        return json.dumps({"format": LOG_FORMAT, "kind": "rewrite", "table": self.table,
                           "file": self.file, "rows": self.rows, "batches": self.batches,
                           "removed": list(self.removed), "log_key": self.log_key}).encode()


Entry = CommitRecord | Rewrite


def parse_entry(data: bytes, where: str) -> Entry:
    try:
        raw = json.loads(data)
    except ValueError as e:
        raise StorageError(f"log entry {where} is not JSON: {e}") from e
    if isinstance(raw, dict) and raw.get("kind") == "rewrite":
        return Rewrite(raw["table"], raw["file"], int(raw["rows"]),
                       {str(k): int(v) for k, v in raw["batches"].items()},
                       tuple(raw["removed"]), str(raw.get("log_key", "")))
    return CommitRecord.from_json(data, where)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    cutoff: str  # every log entry with a key below this is in the checkpoint
    commits: str  # Parquet of records
    manifest: str | None  # Parquet of the reduced manifest (see ``lake.manifest``)
    created_at: str
    batches: int = 0

    @property
    def key(self) -> str:
        return f"{CHECKPOINTS}/{self.seq:010d}.json"


def _record_row(r: CommitRecord) -> dict[str, Any]:
    return {"batch_id": r.batch_id, "run_id": r.run_id, "ingest_date": r.ingest_date,
            "model_version": r.model_version, "committed_at": r.committed_at,
            "log_key": r.log_key,
            "tables": json.dumps({n: [t.rows, t.file] for n, t in r.tables.items()}),
            "exports": json.dumps(list(r.exports)) if r.exports else None}


def _row_record(row: dict[str, Any]) -> CommitRecord:
    tables = {n: TableFile(int(v[0]), v[1]) for n, v in json.loads(row["tables"]).items()}
    exports = tuple(json.loads(row["exports"])) if row.get("exports") else ()
    return CommitRecord(row["batch_id"], row["run_id"], row["ingest_date"],
                        row["model_version"] or "", tables, row["committed_at"] or "",
                        row["log_key"] or "", exports)


@dataclass
class Snapshot:
    """The committed state: a checkpoint plus the tail of the log after it."""

    store: ObjectStore
    checkpoint: Checkpoint | None
    tail: list[Entry] = field(default_factory=list)

    def checkpoint_may_hold(self, since: datetime) -> bool:
        """Whether the checkpoint may hold batches committed at or after ``since`` (less
        :data:`CLOCK_SKEW`: hosts' clocks differ); if not, they are all in the tail."""
        cp = self.checkpoint
        return cp is not None and entry_key(since - CLOCK_SKEW, "") < cp.cutoff

    def tail_records(self) -> list[CommitRecord]:
        """The batches committed after the checkpoint (compactions applied)."""
        return list(self.records(tail_only=True))

    def records(self, *, tail_only: bool = False,
                runs: Collection[str] | None = None) -> Iterator[CommitRecord]:
        """Every committed batch once (its latest record), with compactions applied; the
        checkpoint is streamed in row groups, so memory holds the tail, not the history.
        ``runs``: only the batches of these runs (only the checkpoint's rows of them are
        decoded)."""
        latest: dict[str, CommitRecord] = {}
        moved: dict[str, dict[str, TableFile]] = {}
        wanted = None if runs is None else pa.array(sorted(set(runs)), pa.string())
        for entry in self.tail:
            if isinstance(entry, CommitRecord):
                if runs is not None and entry.run_id not in runs:
                    continue
                latest[entry.batch_id] = entry
                moved.pop(entry.batch_id, None)
            else:
                for batch_id, rows in entry.batches.items():
                    moved.setdefault(batch_id, {})[entry.table] = TableFile(rows, entry.file)

        def apply(record: CommitRecord) -> CommitRecord:
            changes = moved.get(record.batch_id)
            return replace(record, tables={**record.tables, **changes}) if changes else record

        if self.checkpoint is not None and not tail_only:
            # an S3 object is spooled to a temp file: the history is never held in memory
            with (self.store.local_path(self.checkpoint.commits) as path,
                  pq.ParquetFile(path) as parquet):
                for batch in parquet.iter_batches(batch_size=10_000):
                    if wanted is not None:
                        batch = batch.filter(pc.is_in(batch["run_id"], wanted))
                    for row in batch.to_pylist():
                        if row["batch_id"] not in latest:
                            yield apply(_row_record(row))
        for record in latest.values():
            yield apply(record)


class CommitLog:
    """The log of one lake: committing batches and rewrites, reading snapshots."""

    def __init__(self, store: ObjectStore, margin_s: float = DEFAULT_MARGIN_S) -> None:
        self.store = store
        self.margin_s = margin_s

    # ----------------------------------------------------------------------------- write

    def commit(self, record: CommitRecord, before_visible: Any = None) -> CommitRecord:
        """Make a batch visible: record by id, then (after ``before_visible()``, the run's
        last chance to refuse, e.g. a lost lease) the log entry."""
        now = _now()
        record = replace(record, committed_at=now.isoformat(),
                         log_key=entry_key(now, record.batch_id))
        self.store.put(pointer_key(record.batch_id), record.to_json())
        if before_visible is not None:
            before_visible()
        self.store.put(record.log_key, record.to_json())
        return record

    def rewrite(self, rewrite: Rewrite) -> Rewrite:
        """Commit a compaction: the log entry (what snapshots read), then each batch's record
        by id (what lookups read); the old files stay readable meanwhile."""
        rewrite = replace(rewrite, log_key=entry_key(_now(), f"rewrite-{rewrite.table}"))
        self.store.put(rewrite.log_key, rewrite.to_json())
        for batch_id, rows in rewrite.batches.items():
            record = self.lookup(batch_id)
            if record is not None:
                moved = {**record.tables, rewrite.table: TableFile(rows, rewrite.file)}
                self.store.put(pointer_key(batch_id), replace(record, tables=moved).to_json())
        return rewrite

    # ------------------------------------------------------------------------------ read

    def lookup(self, batch_id: str) -> CommitRecord | None:
        """The batch's record if it is committed (its log entry exists), else None."""
        key = pointer_key(batch_id)
        got = self.store.get_versioned(key)
        if got is None:
            return None
        record = CommitRecord.from_json(got[0], self.store.uri(key))
        if record.log_key and self.store.exists(record.log_key):
            return record
        return None

    def latest_checkpoint(self) -> Checkpoint | None:
        keys = [i.key for i in self.store.list(f"{CHECKPOINTS}/")
                if i.key.count("/") == 1 and i.key.endswith(".json")]
        if not keys:
            return None
        raw = json.loads(self.store.get(max(keys)))
        return Checkpoint(int(raw["seq"]), raw["cutoff"], raw["commits"], raw.get("manifest"),
                          raw["created_at"], int(raw.get("batches", 0)))

    def tail_keys(self, after: str | None) -> list[str]:
        """Log entry keys at or after ``after`` (all of them without a checkpoint), in order:
        only the day folders from the cutoff's day on are listed."""
        if after is None:
            return sorted(i.key for i in self.store.list(f"{LOG}/") if i.key.endswith(".json"))
        first = date.fromisoformat(after.split("/")[1])
        keys: list[str] = []
        day = first
        while day <= _now().date() + timedelta(days=1):
            keys.extend(i.key for i in self.store.list(f"{LOG}/{day.isoformat()}/")
                        if i.key >= after and i.key.endswith(".json"))
            day += timedelta(days=1)
        return sorted(keys)

    def migrate_legacy(self) -> int:
        """Lakes written before the log kept one flat ``_commits/<batch_id>.json`` per batch:
        give each a log entry (once; a format marker records that it was done)."""
        marker = LOG_FORMAT_MARKER
        if self.store.exists(marker):
            return 0
        moved = 0
        for info in self.store.list(f"{COMMITS}/"):
            if info.key.count("/") != 1 or not info.key.endswith(".json"):
                continue
            record = CommitRecord.from_json(self.store.get(info.key), self.store.uri(info.key))
            when = datetime.fromisoformat(record.committed_at) if record.committed_at else (
                info.mtime)
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            record = replace(record, log_key=entry_key(when, record.batch_id))
            self.store.put(pointer_key(record.batch_id), record.to_json())
            self.store.put(record.log_key, record.to_json())
            self.store.delete(info.key)
            moved += 1
        self.store.put(marker, json.dumps({"format": LOG_FORMAT}).encode())
        return moved

    def snapshot(self) -> Snapshot:
        self.migrate_legacy()
        checkpoint = self.latest_checkpoint()
        keys = self.tail_keys(checkpoint.cutoff if checkpoint else None)
        tail = parallel_map(lambda k: parse_entry(self.store.get(k), self.store.uri(k)), keys)
        return Snapshot(self.store, checkpoint, tail)

    # ------------------------------------------------------------------------ checkpoint

    def cutoff_now(self) -> str:
        """The cutoff a checkpoint taken now may use."""
        return entry_key(_now() - timedelta(seconds=self.margin_s), "")

    def write_checkpoint(self, snapshot: Snapshot, cutoff: str,
                         manifest: Path | None) -> Checkpoint | None:
        """A new checkpoint holding ``snapshot``'s records from entries before ``cutoff``.
        Returns None when another process wrote the next sequence number first."""
        covered = Snapshot(self.store, snapshot.checkpoint,
                           [e for e in snapshot.tail if e.log_key < cutoff])
        seq = (snapshot.checkpoint.seq + 1) if snapshot.checkpoint else 1
        commits_key = f"{CHECKPOINTS}/{seq:010d}/commits.parquet"
        sink = io.BytesIO()
        count = 0
        with pq.ParquetWriter(sink, COMMIT_COLUMNS, compression="zstd") as writer:
            chunk: list[dict[str, Any]] = []
            for record in covered.records():
                chunk.append(_record_row(record))
                if len(chunk) >= 10_000:
                    writer.write_table(pa.Table.from_pylist(chunk, COMMIT_COLUMNS))
                    count, chunk = count + len(chunk), []
            if chunk:
                writer.write_table(pa.Table.from_pylist(chunk, COMMIT_COLUMNS))
                count += len(chunk)
        self.store.put(commits_key, sink.getvalue())
        manifest_key = None
        if manifest is not None:  # a Parquet file written by ``manifest.write_manifest``
            manifest_key = f"{CHECKPOINTS}/{seq:010d}/manifest.parquet"
            self.store.put_file(manifest_key, manifest)
        checkpoint = Checkpoint(seq, cutoff, commits_key, manifest_key, _now().isoformat(), count)
        body = json.dumps({"seq": seq, "cutoff": cutoff, "commits": commits_key,
                           "manifest": manifest_key, "created_at": checkpoint.created_at,
                           "batches": count}).encode()
        if not self.store.put_if_absent(checkpoint.key, body):
            return None
        return checkpoint
