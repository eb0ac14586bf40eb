"""Parquet tables in an object store, one file per table per batch, with commit records.

Layout (Hive partitioning, readable by DuckDB/pandas/Spark with no custom code)::

    {table}/ingest_date=YYYY-MM-DD/{batch_id}.parquet
    runs/ingest_date=YYYY-MM-DD/{run_id}.parquet
    _commits/{batch_id}.json

Protocol: a batch writes its data files first, then its commit record. File names depend only
on the batch, so a retried batch overwrites its own files instead of duplicating rows; keep
``BatchContext`` (including ``ingest_date``) fixed when a batch is planned so retries land on
the same keys. :meth:`Lake.read_table` reads only files named by commit records; a glob reader
(DuckDB) sees everything, so run :meth:`Lake.sweep_uncommitted` after crashes (the batch runner
does so at flow start) to remove data files that no commit claims.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ocr_tasks.core.concurrency import parallel_map
from ocr_tasks.core.config import S3Settings
from ocr_tasks.core.errors import StorageError
from ocr_tasks.io.storage import ObjectStore, open_store
from ocr_tasks.lake.commits import CommitRecord, TableFile
from ocr_tasks.lake.rows import BatchContext, Row, as_dicts, check_id
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

COMMITS = "_commits"

__all__ = [
    "TABLES",
    "SCHEMAS",
    "Lake",
    "SchemaError",
]


def data_key(table: str, ingest_date: str, name: str) -> str:
    return f"{table}/{PARTITION_COLUMN}={ingest_date}/{name}.parquet"


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

    @classmethod
    def open(cls, uri: str, s3: S3Settings | None = None) -> Lake:
        return cls(open_store(uri, s3))

    @property
    def uri(self) -> str:
        return self.store.root_uri

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    # ----------------------------------------------------------------------------- write

    def write_batch(
        self, ctx: BatchContext, rows: Mapping[str, Sequence[Row | dict[str, Any]]]
    ) -> CommitRecord:
        """Write one batch's tables (data first, then the commit record); returns the record.

        Every table given appears in the record with its row count; only non-empty tables get
        a file. Rewriting a committed batch replaces it: files the new attempt no longer writes
        are deleted after the new record is in place.
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
        record = CommitRecord(ctx.batch_id, ctx.run_id, ctx.ingest_date, ctx.model_version,
                              written, _now().isoformat())
        self.store.put(self._commit_key(ctx.batch_id), record.to_json())
        for stale in sorted(set(previous.files if previous else ()) - set(record.files)):
            self.store.delete(stale)
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

    @staticmethod
    def _commit_key(batch_id: str) -> str:
        return f"{COMMITS}/{check_id(batch_id, 'batch_id')}.json"

    def commit_record(self, batch_id: str) -> CommitRecord | None:
        """The batch's commit record, or None if it is not committed."""
        key = self._commit_key(batch_id)
        if not self.store.exists(key):
            return None
        return self._load_commit(key)

    def _load_commit(self, key: str) -> CommitRecord:
        return CommitRecord.from_json(self.store.get(key), self.store.uri(key))

    def is_committed(self, batch_id: str) -> bool:
        return self.store.exists(self._commit_key(batch_id))

    def commits(self) -> list[CommitRecord]:
        """All commit records, by batch id (fetched in parallel: one small object each)."""
        keys = [i.key for i in self.store.list(f"{COMMITS}/") if i.key.endswith(".json")]
        return parallel_map(self._load_commit, keys)

    def committed_files(self, name: str) -> list[tuple[str, str]]:
        """(key, ingest_date) of the readable files of a table: committed ones, or all runs."""
        if name == "runs":
            return [
                (info.key, _partition_of(info.key))
                for info in self.store.list("runs/")
                if info.key.endswith(".parquet")
            ]
        files = []
        for record in self.commits():
            entry = record.tables.get(name)
            if entry and entry.file:
                files.append((entry.file, record.ingest_date))
        return sorted(files)

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table (committed files, all partitions), with ``ingest_date`` as a string
        column like DuckDB's hive_partitioning gives. Empty table with the schema if none."""
        sch = schema(name)
        wanted = list(columns) if columns is not None else [*sch.names, PARTITION_COLUMN]
        bad = [c for c in wanted if c not in sch.names and c != PARTITION_COLUMN]
        if bad:
            raise SchemaError(f"{name} has no columns {bad}")
        read_columns = [c for c in wanted if c != PARTITION_COLUMN]
        parts = parallel_map(
            lambda f: self._read_file(name, f[0], f[1], read_columns), self.committed_files(name)
        )
        if not parts:
            table = empty(name).append_column(PARTITION_COLUMN, pa.array([], pa.string()))
        else:
            table = pa.concat_tables(parts)
        return table.select(wanted)

    def read_batches(self, name: str, batch_ids: Iterable[str], columns: list[str]) -> pa.Table:
        """One table's rows of these committed batches only (uncommitted ones are skipped)."""
        files = []
        for batch_id in batch_ids:
            record = self.commit_record(batch_id)
            entry = record.tables.get(name) if record else None
            if record and entry and entry.file:
                files.append((entry.file, record.ingest_date))
        parts = parallel_map(lambda f: self._read_file(name, f[0], f[1], columns), files)
        if not parts:
            return empty(name).select(columns)
        return pa.concat_tables(parts).select(columns)

    def _read_file(self, name: str, key: str, day: str, columns: list[str]) -> pa.Table:
        try:
            data = self.store.get(key)
        except StorageError as e:
            raise StorageError(f"committed file {self.store.uri(key)} cannot be read: {e}") from e
        parquet = pq.ParquetFile(io.BytesIO(data))
        present = [c for c in columns if c in parquet.schema_arrow.names]
        table = conform(parquet.read(columns=present), name)
        return table.append_column(PARTITION_COLUMN, pa.array([day] * table.num_rows, pa.string()))

    def known_documents(self) -> pa.Table:
        """The manifest: which source objects (and page ranges) the lake already holds, and in
        which batch (so a planner can tell a document's segments apart)."""
        return self.read_table(
            "documents",
            columns=[
                "doc_id", "source_uri", "bytes", "source_mtime", "source_etag",
                "page_start", "page_end", "pages", "status", "batch_id",
            ],
        )  # fmt: skip

    # ------------------------------------------------------------------------- maintenance

    def sweep_uncommitted(self, *, min_age_s: float = 0.0) -> list[str]:
        """Delete data files no commit record claims (crashed or superseded attempts).

        ``min_age_s`` spares files younger than that, so a sweep cannot remove the files of a
        batch that another process is writing right now; use a grace period (e.g. 3600) when
        flows may run concurrently with the sweep.
        """
        claimed = {key for record in self.commits() for key in record.files}
        cutoff = time.time() - min_age_s
        removed = []
        for name in TABLES:
            if name == "runs":
                continue
            for info in self.store.list(f"{name}/"):
                if not info.key.endswith(".parquet") or info.key in claimed:
                    continue
                if min_age_s and info.mtime.timestamp() > cutoff:
                    continue
                self.store.delete(info.key)
                removed.append(info.key)
        return removed


def _partition_of(key: str) -> str:
    for part in key.split("/"):
        if part.startswith(f"{PARTITION_COLUMN}="):
            return part.split("=", 1)[1]
    return ""
