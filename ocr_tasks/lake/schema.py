"""The lake's table schemas, and strict row -> Arrow conversion.

Column names are a contract with every reader (DuckDB, pandas, dashboards): change them only
with a migration. ``ingest_date`` is never a column in the files; it comes from the Hive
partition folder ``ingest_date=YYYY-MM-DD``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ocr_tasks.core.errors import SchemaError

TS = pa.timestamp("us", tz="UTC")
POLYGON = pa.list_(pa.float32())


def _f(name: str, typ: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field(name, typ, nullable=nullable)


_ID = pa.string()

SCHEMAS: dict[str, pa.Schema] = {
    "documents": pa.schema([
        _f("doc_id", _ID, False), _f("source_uri", pa.string(), False), _f("bytes", pa.int64()),
        _f("pages", pa.int32()), _f("page_start", pa.int32()), _f("page_end", pa.int32()),
        _f("status", pa.string(), False), _f("format", pa.string()), _f("source_mtime", TS),
        _f("source_etag", pa.string()), _f("run_id", _ID, False), _f("batch_id", _ID, False),
        _f("model_version", pa.string()), _f("ingested_at", TS),
        _f("exports", pa.list_(pa.string())),
    ]),
    "pages": pa.schema([
        _f("doc_id", _ID, False), _f("page", pa.int32(), False), _f("text", pa.string()),
        _f("confidence", pa.float32()), _f("width", pa.int32()), _f("height", pa.int32()),
        _f("dpi", pa.float32()), _f("rotation", pa.int16()), _f("skew_angle", pa.float32()),
        _f("n_lines", pa.int32()), _f("n_words", pa.int32()), _f("needs_review", pa.bool_()),
        _f("model_name", pa.string()), _f("model_version", pa.string()),
        _f("t_rasterize_ms", pa.float32()), _f("t_preprocess_ms", pa.float32()),
        _f("t_detect_ms", pa.float32()), _f("t_recognize_ms", pa.float32()),
        _f("run_id", _ID, False), _f("batch_id", _ID, False), _f("text_source", pa.string()),
    ]),
    "lines": pa.schema([
        _f("doc_id", _ID, False), _f("page", pa.int32(), False), _f("line", pa.int32(), False),
        _f("text", pa.string()), _f("confidence", pa.float32()),
        _f("x0", pa.float32()), _f("y0", pa.float32()), _f("x1", pa.float32()),
        _f("y1", pa.float32()), _f("polygon", POLYGON), _f("model_version", pa.string()),
        _f("run_id", _ID, False), _f("batch_id", _ID, False),
    ]),
    "words": pa.schema([
        _f("doc_id", _ID, False), _f("page", pa.int32(), False), _f("line", pa.int32(), False),
        _f("word", pa.int32(), False), _f("text", pa.string()), _f("confidence", pa.float32()),
        _f("x0", pa.float32()), _f("y0", pa.float32()), _f("x1", pa.float32()),
        _f("y1", pa.float32()), _f("polygon", POLYGON), _f("model_version", pa.string()),
        _f("run_id", _ID, False), _f("batch_id", _ID, False),
    ]),
    "errors": pa.schema([
        _f("doc_id", _ID), _f("source_uri", pa.string()), _f("page", pa.int32()),
        _f("kind", pa.string(), False), _f("message", pa.string()), _f("retryable", pa.bool_()),
        _f("run_id", _ID, False), _f("batch_id", _ID, False), _f("occurred_at", TS),
    ]),
    "cer_samples": pa.schema([
        _f("sample_id", _ID, False), _f("run_id", _ID, False), _f("batch_id", _ID, False),
        _f("source", pa.string(), False), _f("doc_id", _ID), _f("page", pa.int32()),
        _f("level", pa.string(), False), _f("reference", pa.string()),
        _f("prediction", pa.string()), _f("edits", pa.int32()), _f("ref_chars", pa.int32()),
        _f("cer", pa.float32()), _f("confidence", pa.float32()),
        _f("model_version", pa.string()), _f("created_at", TS),
    ]),
    "runs": pa.schema([
        _f("run_id", _ID, False), _f("flow", pa.string()), _f("parameters", pa.string()),
        _f("status", pa.string()), _f("started_at", TS), _f("finished_at", TS),
        _f("documents", pa.int64()), _f("pages", pa.int64()), _f("errors", pa.int64()),
        _f("seconds", pa.float64()), _f("pages_per_s", pa.float64()), _f("cer", pa.float64()),
        _f("cer_low", pa.float64()), _f("cer_high", pa.float64()), _f("lake_uri", pa.string()),
        _f("model_version", pa.string()),
    ]),
    "batches": pa.schema([
        _f("batch_id", _ID, False), _f("run_id", _ID, False), _f("documents", pa.int32()),
        _f("pages", pa.int32()), _f("errors", pa.int32()), _f("canary_pages", pa.int32()),
        _f("seconds", pa.float64()), _f("pages_per_s", pa.float64()), _f("cer", pa.float64()),
        _f("cer_low", pa.float64()), _f("cer_high", pa.float64()), _f("worker", pa.string()),
        _f("model_version", pa.string()),
    ]),
}  # fmt: skip

TABLES: tuple[str, ...] = (
    "documents", "pages", "lines", "words", "errors", "cer_samples", "runs", "batches",
)  # fmt: skip

PARTITION_COLUMN = "ingest_date"


def schema(name: str) -> pa.Schema:
    try:
        return SCHEMAS[name]
    except KeyError:
        raise SchemaError(f"unknown table {name!r}; tables are {', '.join(TABLES)}") from None


def rows_to_table(name: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Build an Arrow table from row dicts, requiring exactly the schema's columns."""
    sch = schema(name)
    expected = set(sch.names)
    for i, row in enumerate(rows):
        keys = set(row)
        if keys != expected:
            missing, extra = sorted(expected - keys), sorted(keys - expected)
            raise SchemaError(f"{name} row {i}: missing columns {missing}, extra columns {extra}")
    arrays = []
    for field in sch:
        values = [row[field.name] for row in rows]
        try:
            arr = pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
            raise SchemaError(f"{name}.{field.name} ({field.type}): {e}") from e
        if not field.nullable and arr.null_count:
            raise SchemaError(f"{name}.{field.name} may not be null")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=sch)


def conform(table: pa.Table, name: str) -> pa.Table:
    """Cast a file read back to the current schema; columns added since are filled with nulls."""
    sch = schema(name)
    arrays = []
    for field in sch:
        if field.name in table.column_names:
            arrays.append(table.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=sch.with_metadata(None))


def empty(name: str) -> pa.Table:
    return schema(name).empty_table()
