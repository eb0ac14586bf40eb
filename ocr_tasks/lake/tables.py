"""Parquet tables in an object store, one file per table per batch, with commit records.

Layout (Hive partitioning, readable by DuckDB/pandas/Spark with no custom code)::

    {table}/ingest_date=YYYY-MM-DD/{batch_id}.parquet      batch_id = <run tag>-b<hash>
    {table}/ingest_date=YYYY-MM-DD/compact-<id>.parquet    rows of many batches (``compact``)
    runs/ingest_date=YYYY-MM-DD/{run_id}.parquet
    exports/ingest_date=YYYY-MM-DD/{batch_id}/{name}        a batch's export files
    _commits/, _log/, _checkpoints/                         what is committed (``lake.log``)

Protocol: a batch writes its data files (and export files: searchable PDF, hOCR, ALTO, JSON,
listed in its record) first, then commits (``lake.log``). File names depend
only on the batch, so a retried batch overwrites its own files instead of duplicating rows;
keep ``BatchContext`` (including ``ingest_date``) fixed when a batch is planned so retries land
on the same keys. :meth:`Lake.read_table` reads only committed files; a glob reader (DuckDB)
sees everything, including files of a batch being written or of a run that died, which
:meth:`Lake.sweep_run` removes once that run's lease has expired.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ocr_tasks.core.concurrency import parallel_map
from ocr_tasks.core.config import S3Settings
from ocr_tasks.core.errors import NotALake, StorageError
from ocr_tasks.io.storage import LocalStore, ObjectStore, open_store
from ocr_tasks.lake.commits import CommitRecord, TableFile
from ocr_tasks.lake.log import COMMITS, LOG, LOG_FORMAT_MARKER, CommitLog, Snapshot
from ocr_tasks.lake.rows import BatchContext, Row, as_dicts, check_id, run_tag
from ocr_tasks.lake.schema import (
    PARTITION_COLUMN,
    SCHEMAS,
    TABLES,
    SchemaError,
    conform,
    empty,
    rows_to_table,
    schema,
)

__all__ = [
    "TABLES",
    "SCHEMAS",
    "Lake",
    "SchemaError",
]


EXPORTS = "exports"
_EXPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def data_key(table: str, ingest_date: str, name: str) -> str:
    return f"{table}/{PARTITION_COLUMN}={ingest_date}/{name}.parquet"


def export_key(ctx: BatchContext, name: str) -> str:
    """Where a batch's export file ``name`` lives: under the batch's own folder, so a retried
    batch overwrites it and a sweep finds a dead run's by its tag, as for data files."""
    if not _EXPORT_NAME.fullmatch(name):
        raise ValueError(f"export name {name!r} must match {_EXPORT_NAME.pattern}")
    return f"{EXPORTS}/{PARTITION_COLUMN}={ctx.ingest_date}/{ctx.batch_id}/{name}"


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _now() -> datetime:
    return datetime.now(UTC)


class Lake:
    """The lake's tables in one store (local folder or S3 prefix)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.log = CommitLog(store)

    @classmethod
    def open(cls, uri: str, s3: S3Settings | None = None) -> Lake:
        return cls(open_store(uri, s3))

    @classmethod
    def open_existing(cls, uri: str, s3: S3Settings | None = None) -> Lake:
        """A lake that must exist already (commands that read one): a folder or prefix with
        no commit log and no runs is refused with :class:`NotALake` instead of being read as
        an empty lake, and nothing is written to it."""
        store = open_store(uri, s3)
        if isinstance(store, LocalStore) and not store.root.is_dir():
            what = "is not a folder" if store.root.exists() else "does not exist"
            raise NotALake(f"no lake at {store.root_uri}: the folder {what}")
        if not (store.exists(LOG_FORMAT_MARKER)
                or any(_holds_any(store, f"{prefix}/") for prefix in (LOG, COMMITS, "runs"))):
            raise NotALake(f"no lake at {store.root_uri}: it has no commit log ({LOG}/, "
                           f"{COMMITS}/) and no runs/ (a mistyped path, or a source folder?)")
        return cls(store)

    @property
    def uri(self) -> str:
        return self.store.root_uri

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    # ----------------------------------------------------------------------------- write

    def write_batch(
        self, ctx: BatchContext, rows: Mapping[str, Sequence[Row | dict[str, Any]]],
        *, before_visible: Callable[[], None] | None = None,
        exports: Mapping[str, bytes] | None = None,
    ) -> CommitRecord:
        """Write one batch's tables, then commit them (``lake.log``); returns the record.

        Every table given appears in the record with its row count; only non-empty tables get
        a file. ``exports`` (name -> bytes) are written to :func:`export_key` before the
        commit and listed in it: like the rows, they are the lake's only once it is
        committed. ``before_visible`` runs after the data is written and before the commit
        becomes visible: the run's chance to refuse (a lost lease raises there). Rewriting a
        committed batch replaces it: its own files the new attempt no longer writes are
        deleted once the new commit is visible.
        """
        unknown = sorted(set(rows) - set(TABLES) | ({"runs"} & set(rows)))
        if unknown:
            raise SchemaError(f"write_batch cannot write tables {unknown} (runs: use write_run)")
        tables = {name: rows_to_table(name, as_dicts(rows[name])) for name in rows}  # all first
        previous = self.commit_record(ctx.batch_id)
        written: dict[str, TableFile] = {}
        for name, table in tables.items():
            key = data_key(name, ctx.ingest_date, ctx.batch_id) if table.num_rows else None
            if key is not None:
                self.store.put(key, _parquet_bytes(table))
            written[name] = TableFile(table.num_rows, key)
        export_keys = []
        for name, data in sorted((exports or {}).items()):
            key = export_key(ctx, name)
            self.store.put(key, data)
            export_keys.append(key)
        record = self.log.commit(
            CommitRecord(ctx.batch_id, ctx.run_id, ctx.ingest_date, ctx.model_version, written,
                         exports=tuple(export_keys)),
            before_visible)
        own = f"/{ctx.batch_id}.parquet"
        for stale in sorted(set(previous.files if previous else ()) - set(record.files)):
            if stale.endswith(own):  # never a compacted file other batches share
                self.store.delete(stale)
        for stale in sorted(set(previous.exports if previous else ()) - set(record.exports)):
            self.store.delete(stale)  # always the batch's own folder
        return record

    def write_run(self, run: Row | dict[str, Any]) -> None:
        """Write (or replace) a run's summary row, partitioned by the run's start date so that
        rewriting the row when the run finishes lands on the same key."""
        row = as_dicts([run])[0]
        table = rows_to_table("runs", [row])
        run_id = check_id(row["run_id"], "run_id")
        started = row.get("started_at") or _now()
        if isinstance(started, str):
            started = datetime.fromisoformat(started)
        if started.tzinfo is not None:
            started = started.astimezone(UTC)
        self.store.put(data_key("runs", started.date().isoformat(), run_id), _parquet_bytes(table))

    # ------------------------------------------------------------------------------ read

    def commit_record(self, batch_id: str) -> CommitRecord | None:
        """The batch's commit record, or None if it is not committed."""
        return self.log.lookup(check_id(batch_id, "batch_id"))

    def is_committed(self, batch_id: str) -> bool:
        return self.commit_record(batch_id) is not None

    def snapshot(self) -> Snapshot:
        """The committed state now: the newest checkpoint and the log after it."""
        return self.log.snapshot()

    def commits(self) -> list[CommitRecord]:
        """Every committed batch's record (latest version, compactions applied)."""
        return list(self.snapshot().records())

    def run_commits(self, run_ids: Iterable[str], since: datetime | None = None
                    ) -> list[CommitRecord]:
        """The committed batches of these runs. ``since`` (the earliest of their starts)
        keeps the checkpoint unread when the runs began after it: recent runs cost what
        they committed, not the lake's history."""
        snapshot = self.snapshot()
        tail_only = since is not None and not snapshot.checkpoint_may_hold(since)
        return list(snapshot.records(tail_only=tail_only, runs=set(run_ids)))

    def recent_runs(self, last: int) -> list[dict[str, Any]]:
        """The ``last`` runs by start time, oldest first. Run files are partitioned by the
        day their run started, so only the newest days' files that hold them are read.

        The listing is of every run file: one LIST request per 1,000 runs, which grows with
        the number of runs (4 requests after ten years of nightly runs), not of documents."""
        if last <= 0:
            return []
        days: dict[str, list[str]] = {}
        for key in self.committed_files("runs"):
            days.setdefault(partition_of(key), []).append(key)
        columns = list(schema("runs").names)
        rows: list[dict[str, Any]] = []
        for day in sorted(days, reverse=True):
            for part in parallel_map(lambda k: self._read_file("runs", k, columns), days[day]):
                rows.extend(part.select(columns).to_pylist())
            if len(rows) >= last:
                break
        # a row without a start (none is written so) counts as the oldest, never the newest
        return sorted(rows, key=lambda r: (r["started_at"] is not None, r["started_at"]))[-last:]

    def committed_files(self, name: str, snapshot: Snapshot | None = None) -> list[str]:
        """Keys of the committed files of a table (each once; for ``runs``, every run file)."""
        if name == "runs":
            return sorted(i.key for i in self.store.list("runs/") if i.key.endswith(".parquet"))
        snapshot = snapshot or self.snapshot()
        return sorted({r.tables[name].file for r in snapshot.records()  # type: ignore[misc]
                       if name in r.tables and r.tables[name].file})

    def committed_exports(self, snapshot: Snapshot | None = None) -> list[str]:
        """Keys of every committed export file (searchable PDFs, hOCR, ALTO, JSON)."""
        snapshot = snapshot or self.snapshot()
        return sorted({key for r in snapshot.records() for key in r.exports})

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table (committed files, all partitions), with ``ingest_date`` as a string
        column like DuckDB's hive_partitioning gives. Empty table with the schema if none."""
        sch = schema(name)
        wanted = list(columns) if columns is not None else [*sch.names, PARTITION_COLUMN]
        bad = [c for c in wanted if c not in sch.names and c != PARTITION_COLUMN]
        if bad:
            raise SchemaError(f"{name} has no columns {bad}")
        read_columns = [c for c in wanted if c != PARTITION_COLUMN]
        parts = parallel_map(lambda key: self._read_file(name, key, read_columns),
                             self.committed_files(name))
        if not parts:
            table = empty(name).append_column(PARTITION_COLUMN, pa.array([], pa.string()))
        else:
            table = pa.concat_tables(parts)
        return table.select(wanted)

    def read_batches(self, name: str, batch_ids: Iterable[str], columns: list[str]) -> pa.Table:
        """One table's rows of these committed batches only (uncommitted ones are skipped)."""
        records = [r for r in parallel_map(self.commit_record, sorted(set(batch_ids))) if r]
        return self.read_records(name, records, columns)

    def read_records(self, name: str, records: Iterable[CommitRecord],
                     columns: list[str]) -> pa.Table:
        """One table's rows of these batches (a compacted file shared with other batches is
        read once and filtered to these)."""
        wanted: set[str] = set()
        files: set[str] = set()
        for record in records:
            wanted.add(record.batch_id)
            entry = record.tables.get(name)
            if entry is not None and entry.file:
                files.add(entry.file)
        cols = list(dict.fromkeys([*columns, "batch_id"]))
        ids = pa.array(sorted(wanted), pa.string())
        parts = [part.filter(pc.is_in(part["batch_id"], ids))
                 for part in parallel_map(lambda k: self._read_file(name, k, cols), sorted(files))]
        if not parts:
            return empty(name).select(columns)
        return pa.concat_tables(parts).select(columns)

    def _read_file(self, name: str, key: str, columns: list[str]) -> pa.Table:
        try:
            data = self.store.get(key)
        except StorageError as e:
            raise StorageError(f"committed file {self.store.uri(key)} cannot be read: {e}") from e
        parquet = pq.ParquetFile(io.BytesIO(data))
        present = [c for c in columns if c in parquet.schema_arrow.names]
        table = conform(parquet.read(columns=present), name).select(columns)
        day = partition_of(key)
        return table.append_column(PARTITION_COLUMN, pa.array([day] * table.num_rows, pa.string()))

    # ------------------------------------------------------------------------- maintenance

    def sweep_run(self, run_id: str, ingest_date: str) -> list[str]:
        """Delete the data files of a dead run's batches that never committed.

        Only ever called for a run whose lease expired (see ``pipeline.job``): such a run can
        no longer commit, because every batch checks its lease right before its commit
        becomes visible. Costs one listing per table of that run's day, whatever the
        lake's size.
        """
        tag = run_tag(run_id)
        removed = []
        for name in TABLES:
            if name == "runs":
                continue
            for info in self.store.list(f"{name}/{PARTITION_COLUMN}={ingest_date}/{tag}-"):
                batch_id = info.key.rsplit("/", 1)[-1].removesuffix(".parquet")
                if info.key.endswith(".parquet") and not self.is_committed(batch_id):
                    self.store.delete(info.key)
                    removed.append(info.key)
        verdicts: dict[str, bool] = {}
        for info in self.store.list(f"{EXPORTS}/{PARTITION_COLUMN}={ingest_date}/{tag}-"):
            batch_id = info.key.split("/")[2]
            if batch_id not in verdicts:
                verdicts[batch_id] = self.is_committed(batch_id)
            if not verdicts[batch_id]:
                self.store.delete(info.key)
                removed.append(info.key)
        return removed


def _holds_any(store: ObjectStore, prefix: str) -> bool:
    return next(iter(store.list(prefix)), None) is not None


def partition_of(key: str) -> str:
    for part in key.split("/"):
        if part.startswith(f"{PARTITION_COLUMN}="):
            return part.split("=", 1)[1]
    return ""
