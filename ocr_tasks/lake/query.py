"""SQL over the lake with DuckDB, through the commit log.

:func:`connect` returns a DuckDB connection with one view per table (``documents``,
``pages``, ...) over the table's *committed* files only, as the commit log lists them
(:meth:`Lake.committed_files`), never a glob: a batch being written, the files of a run that
died and small files replaced by a compaction stay invisible. Each view has the
``ingest_date`` partition column, a DATE as DuckDB's ``hive_partitioning`` gives it (so a
query written for a ``read_parquet`` glob runs unchanged), and ``documents_current`` is each
source uri's current version (``lake.versions``).

Files are read through pyarrow's filesystems (``pyarrow.fs.S3FileSystem`` with the endpoint,
region and credentials of :class:`S3Settings` for S3 lakes), so DuckDB never needs, loads or
downloads an extension; autoloading and autoinstalling of extensions are switched off on the
connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from ocr_tasks.core.config import S3Settings
from ocr_tasks.core.errors import InputError, StorageError
from ocr_tasks.io.storage import LocalStore, ObjectStore, S3Store
from ocr_tasks.lake.schema import PARTITION_COLUMN, TABLES, schema
from ocr_tasks.lake.tables import Lake, partition_of
from ocr_tasks.lake.versions import CURRENT_DOCUMENTS_SQL

CURRENT_VIEW = "documents_current"
VIEWS: tuple[str, ...] = (*TABLES, CURRENT_VIEW)

# Statements run on every connection before a view exists: nothing may fetch code.
NO_EXTENSIONS = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
)


def s3_filesystem(settings: S3Settings) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem for the endpoint, region and credentials of ``settings``;
    without keys in the settings the AWS SDK's own chain (``AWS_*`` variables, profiles,
    instance roles) applies, as for boto3."""
    kwargs: dict[str, Any] = {
        "region": settings.region,
        "connect_timeout": settings.connect_timeout_s,
        "request_timeout": settings.read_timeout_s,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=settings.max_attempts),
        "allow_bucket_creation": False,
        "allow_bucket_deletion": False,
    }
    if settings.endpoint_url:
        url = settings.endpoint_url
        parts = urlsplit(url if "://" in url else f"https://{url}")
        kwargs["scheme"] = parts.scheme or "https"
        kwargs["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        kwargs["access_key"] = settings.access_key_id.get_secret_value()
        kwargs["secret_key"] = settings.secret_access_key.get_secret_value()
    return pafs.S3FileSystem(**kwargs)


def arrow_filesystem(store: ObjectStore) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of a store and the path of its root in it."""
    if isinstance(store, S3Store):
        root = f"{store.bucket}/{store.prefix}".rstrip("/")
        return s3_filesystem(store.settings), root
    if isinstance(store, LocalStore):
        return pafs.LocalFileSystem(), str(store.root)
    raise InputError(f"cannot query a lake in {type(store).__name__} ({store.root_uri})")


def table_schema(name: str) -> pa.Schema:
    """A table's columns plus ``ingest_date`` (a date)."""
    return schema(name).append(pa.field(PARTITION_COLUMN, pa.date32()))


def table_dataset(lake: Lake, name: str, fs: pafs.FileSystem, root: str,
                  keys: list[str]) -> ds.Dataset:
    """A lazy dataset over the given committed files of one table; each file's
    ``ingest_date`` comes from its partition folder. Files written with an older schema
    read with the current one (columns added since are null)."""
    sch = table_schema(name)
    if not keys:
        return ds.dataset(sch.empty_table())
    return ds.FileSystemDataset.from_paths(
        [f"{root}/{key}" for key in keys], schema=sch, format=ds.ParquetFileFormat(),
        filesystem=fs,
        partitions=[pc.field(PARTITION_COLUMN) == _day(k) for k in keys])


def _day(key: str) -> pa.Scalar:
    day = partition_of(key)
    return pa.scalar(date.fromisoformat(day) if day else None, pa.date32())


@dataclass(frozen=True)
class Result:
    """A query's column names and its rows in record batches (streamed, not all in memory)."""

    columns: list[str]
    batches: Iterator[pa.RecordBatch]


def connect(lake: Lake) -> Any:
    """A DuckDB connection with a view per table of ``lake`` (committed files, one snapshot
    of the log for every table) and ``documents_current``."""
    import duckdb

    fs, root = arrow_filesystem(lake.store)
    snapshot = lake.snapshot()
    con = duckdb.connect(":memory:")
    for statement in NO_EXTENSIONS:
        con.execute(statement)
    for name in TABLES:
        keys = lake.committed_files(name, snapshot)
        con.register(name, table_dataset(lake, name, fs, root, keys))
    con.execute(f"CREATE VIEW {CURRENT_VIEW} AS {CURRENT_DOCUMENTS_SQL}")
    return con


def query(lake: Lake, sql: str, rows_per_batch: int = 10_000) -> Result:
    """Run ``sql`` against the lake's views. A statement DuckDB refuses is an
    :class:`InputError` (one line, the user's to fix); a file that cannot be read a
    :class:`StorageError`."""
    import duckdb

    con = connect(lake)
    try:
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (SET, CREATE, COPY ... TO)
            con.close()
            return Result([], iter(()))
        reader = relation.to_arrow_reader(rows_per_batch)
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
            duckdb.InvalidInputException, duckdb.ConversionException,
            duckdb.NotImplementedException) as e:
        con.close()
        raise InputError(f"query refused: {_one_line(e)}") from e
    except duckdb.IOException as e:
        con.close()
        raise StorageError(f"query could not read {lake.uri}: {_one_line(e)}") from e
    except duckdb.Error as e:
        con.close()
        raise InputError(f"query failed: {_one_line(e)}") from e

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except (OSError, pa.ArrowException, duckdb.IOException) as e:
            raise StorageError(f"query could not read {lake.uri}: {_one_line(e)}") from e
        finally:
            con.close()

    return Result(list(reader.schema.names), batches())


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
