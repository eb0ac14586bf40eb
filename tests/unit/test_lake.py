"""The Parquet lake: schemas, commit protocol, idempotent retries, sweeping, outside readers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ocr_tasks.document import Line, Page, Word, box_polygon
from ocr_tasks.lake.commits import TableFile
from ocr_tasks.lake.manifest import load_manifest, row_fingerprint
from ocr_tasks.lake.rows import ROW_TYPES, BatchContext, as_dicts, page_rows, run_tag
from ocr_tasks.lake.schema import SchemaError, rows_to_table
from ocr_tasks.lake.tables import SCHEMAS, TABLES, Lake

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CTX = BatchContext("run-1", "b-0001", "2026-03-04", "v1.2")


def doc_row(doc_id: str, ctx: BatchContext = CTX, **kw: object) -> dict:
    row = {
        "doc_id": doc_id, "source_uri": f"/src/{doc_id}.pdf", "bytes": 1234, "pages": 2,
        "page_start": 0, "page_end": 2, "status": "ok", "format": "pdf", "source_mtime": T0,
        "source_etag": None, "run_id": ctx.run_id, "batch_id": ctx.batch_id,
        "model_version": ctx.model_version, "ingested_at": T0, "exports": None,
    }  # fmt: skip
    row.update(kw)
    return row


def error_row(doc_id: str, ctx: BatchContext = CTX, page: int | None = None) -> dict:
    return {
        "doc_id": doc_id, "source_uri": f"/src/{doc_id}.pdf", "page": page, "kind": "corrupt",
        "message": "broken", "retryable": False, "run_id": ctx.run_id, "batch_id": ctx.batch_id,
        "occurred_at": T0,
    }  # fmt: skip


def sample_page(index: int = 0, confidence: float = 0.9) -> Page:
    words = (
        Word("Hello", confidence, box_polygon((10, 10, 50, 30))),
        Word("world", confidence, box_polygon((55, 10, 100, 30))),
    )
    line = Line("Hello world", confidence, box_polygon((10, 10, 100, 30)), words)
    return Page(
        index=index, width=200, height=100, dpi=200.0, lines=(line,), rotation=90,
        skew_angle=0.5, model_name="ppocr", model_version="v1.2",
        timings={"rasterize": 0.01, "detect": 0.2, "recognize": 0.3},
    )  # fmt: skip


def batch_rows(ctx: BatchContext, doc_ids: list[str]) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {name: [] for name in ("documents", "pages", "lines", "words")}
    for doc_id in doc_ids:
        rows["documents"].append(doc_row(doc_id, ctx))
        for i in range(2):
            for name, r in page_rows(doc_id, sample_page(i), ctx, review_confidence=0.8).items():
                rows[name].extend(as_dicts(r))
    rows["errors"] = []
    return rows


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake.open(str(tmp_path / "lake"))


def test_schemas_cover_every_table() -> None:
    assert set(TABLES) == set(SCHEMAS)
    assert "ingest_date" not in {c for s in SCHEMAS.values() for c in s.names}


def test_rows_must_match_schema_exactly() -> None:
    with pytest.raises(SchemaError, match=r"missing columns \['status'\]"):
        row = doc_row("d")
        del row["status"]
        rows_to_table("documents", [row])
    with pytest.raises(SchemaError, match=r"extra columns \['surprise'\]"):
        rows_to_table("documents", [doc_row("d", surprise=1)])
    with pytest.raises(SchemaError, match=r"documents\.bytes"):
        rows_to_table("documents", [doc_row("d", bytes="many")])
    with pytest.raises(SchemaError, match="may not be null"):
        rows_to_table("documents", [doc_row("d", status=None)])
    with pytest.raises(SchemaError, match="unknown table"):
        rows_to_table("nope", [])


def test_page_rows_match_schemas() -> None:
    typed = page_rows("doc-1", sample_page(3, confidence=0.5), CTX, review_confidence=0.8)
    rows = {name: as_dicts(r) for name, r in typed.items()}
    [page] = rows["pages"]
    assert page["page"] == 3 and page["n_lines"] == 1 and page["n_words"] == 2
    assert page["needs_review"] is True and page["text"] == "Hello world"
    assert page["t_rasterize_ms"] == pytest.approx(10.0) and page["t_preprocess_ms"] is None
    assert page["run_id"] == "run-1" and page["batch_id"] == "b-0001"
    [line] = rows["lines"]
    assert line["polygon"] == [10.0, 10.0, 100.0, 10.0, 100.0, 30.0, 10.0, 30.0]
    assert (line["x0"], line["y1"]) == (10, 30)
    assert [(w["line"], w["word"], w["text"]) for w in rows["words"]] == [
        (0, 0, "Hello"),
        (0, 1, "world"),
    ]
    for name, r in rows.items():
        table = rows_to_table(name, r)
        assert table.schema.equals(SCHEMAS[name])


def test_write_commit_read_round_trip(lake: Lake) -> None:
    record = lake.write_batch(CTX, batch_rows(CTX, ["d1", "d2"]))
    assert lake.is_committed("b-0001") and not lake.is_committed("b-0002")
    assert record.tables["pages"] == TableFile(4, "pages/ingest_date=2026-03-04/b-0001.parquet")
    assert record.tables["errors"] == TableFile(0, None)  # listed, no file
    assert "errors/ingest_date=2026-03-04/b-0001.parquet" not in record.files
    assert record.run_id == "run-1" and record.committed_at
    assert lake.commits() == [record]
    assert lake.commit_record("b-0001") == record and lake.commit_record("b-0002") is None

    pages = lake.read_table("pages")
    assert pages.num_rows == 4
    assert set(pages.column_names) == {*SCHEMAS["pages"].names, "ingest_date"}
    assert pages.column("ingest_date").to_pylist() == ["2026-03-04"] * 4
    assert lake.read_table("words", columns=["doc_id", "text"]).num_rows == 8
    assert lake.read_table("errors").num_rows == 0
    docs = lake.read_table("documents")
    assert docs.column("source_mtime").to_pylist()[0] == T0

    manifest = load_manifest(lake)
    assert len(manifest.done_fingerprints) == 2
    for row in docs.to_pylist():
        assert row_fingerprint(row) in manifest.done_fingerprints


def test_empty_lake_reads_empty_tables(lake: Lake) -> None:
    for name in TABLES:
        table = lake.read_table(name)
        assert table.num_rows == 0 and table.schema.names[:-1] == SCHEMAS[name].names
    assert lake.commits() == [] and len(load_manifest(lake).done_fingerprints) == 0
    with pytest.raises(SchemaError):
        lake.read_table("pages", columns=["nope"])


def test_retried_batch_replaces_its_rows(lake: Lake) -> None:
    lake.write_batch(CTX, batch_rows(CTX, ["d1", "d2"]) | {"errors": [error_row("d9")]})
    # the retry finds one document fewer and no errors: nothing of the first attempt remains
    record = lake.write_batch(CTX, batch_rows(CTX, ["d1"]))
    assert lake.read_table("pages").num_rows == 2
    assert lake.read_table("documents").column("doc_id").to_pylist() == ["d1"]
    assert lake.read_table("errors").num_rows == 0
    assert not lake.store.exists("errors/ingest_date=2026-03-04/b-0001.parquet")
    assert len(lake.commits()) == 1 and lake.commits()[0] == record


def test_retry_on_another_day_moves_the_batch(lake: Lake) -> None:
    lake.write_batch(CTX, batch_rows(CTX, ["d1"]))
    later = BatchContext("run-1", "b-0001", "2026-03-05", "v1.2")
    lake.write_batch(later, batch_rows(later, ["d1"]))
    assert lake.read_table("pages").column("ingest_date").unique().to_pylist() == ["2026-03-05"]
    assert [i.key for i in lake.store.list("pages/")] == [
        "pages/ingest_date=2026-03-05/b-0001.parquet"
    ]


def test_uncommitted_batch_is_invisible_and_swept(lake: Lake) -> None:
    lake.write_batch(CTX, batch_rows(CTX, ["d1"]))
    # a crashed attempt of another batch: data written, no commit record
    dead = f"{run_tag('run-9')}-b0002"
    crashed = BatchContext("run-9", dead, "2026-03-04", "v1.2")
    table = rows_to_table("pages", batch_rows(crashed, ["d7"])["pages"])
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    lake.store.put(f"pages/ingest_date=2026-03-04/{dead}.parquet", buf.getvalue().to_pybytes())
    assert lake.read_table("pages").column("doc_id").unique().to_pylist() == ["d1"]
    assert lake.sweep_run("run-1", "2026-03-04") == []  # another run's files are never touched
    assert lake.sweep_run("run-9", "2026-03-04") == [f"pages/ingest_date=2026-03-04/{dead}.parquet"]
    assert lake.sweep_run("run-9", "2026-03-04") == []
    assert lake.read_table("pages").num_rows == 2  # committed data untouched


def test_write_batch_validates_before_writing(lake: Lake) -> None:
    rows = batch_rows(CTX, ["d1"])
    rows["words"][0]["extra"] = 1
    with pytest.raises(SchemaError):
        lake.write_batch(CTX, rows)
    assert list(lake.store.list()) == []  # nothing half-written
    with pytest.raises(SchemaError, match="write_run"):
        lake.write_batch(CTX, {"runs": []})


def test_bad_context_values_are_refused() -> None:
    with pytest.raises(ValueError):
        BatchContext("run-1", "../evil", "2026-03-04", "v1")
    with pytest.raises(ValueError):
        BatchContext("run-1", "b1", "2026-3-4", "v1")


def run_row(status: str, finished: datetime | None) -> dict:
    return {
        "run_id": "run-1", "flow": "ingest", "parameters": json.dumps({"source": "/src"}),
        "status": status, "started_at": datetime(2026, 3, 4, 23, 59, tzinfo=UTC),
        "finished_at": finished, "documents": 2, "pages": 4, "errors": 0, "seconds": 60.0,
        "pages_per_s": 4 / 60, "cer": 0.02, "cer_low": 0.01, "cer_high": 0.03,
        "lake_uri": "/lake", "model_version": "v1.2",
    }  # fmt: skip


def test_write_run_replaces_the_run_row(lake: Lake) -> None:
    lake.write_run(run_row("running", None))
    lake.write_run(run_row("completed", datetime(2026, 3, 5, 0, 1, tzinfo=UTC)))  # next day
    runs = lake.read_table("runs")
    assert runs.column("status").to_pylist() == ["completed"]
    assert runs.column("ingest_date").to_pylist() == ["2026-03-04"]


def test_duckdb_and_pandas_read_the_lake_without_custom_code(lake: Lake, tmp_path: Path) -> None:
    lake.write_batch(CTX, batch_rows(CTX, ["d1", "d2"]))
    ctx2 = BatchContext("run-1", "b-0002", "2026-03-05", "v1.2")
    lake.write_batch(ctx2, batch_rows(ctx2, ["d3"]))
    root = tmp_path / "lake"
    con = duckdb.connect()
    rows = con.execute(
        f"select ingest_date::varchar, count(*) from read_parquet('{root}/pages/*/*.parquet', "
        "hive_partitioning=true) group by 1 order by 1"
    ).fetchall()
    assert rows == [("2026-03-04", 4), ("2026-03-05", 2)]
    words = con.execute(
        f"select count(*) from read_parquet('{root}/words/*/*.parquet', hive_partitioning=true) "
        "where text = 'Hello'"
    ).fetchone()
    assert words == (3 * 2,)
    df = pd.read_parquet(root / "documents")
    assert sorted(df["doc_id"]) == ["d1", "d2", "d3"] and "ingest_date" in df.columns


def test_many_batches_read_in_order_and_old_files_conform(lake: Lake) -> None:
    for i in range(6):
        ctx = BatchContext("run-2", f"b-{i:04d}", f"2026-03-0{1 + i % 3}", "v1")
        lake.write_batch(ctx, {"documents": [doc_row(f"d{i}", ctx)]})
    # a file written before a column existed reads back with nulls in that column
    old = rows_to_table(
        "documents", [doc_row("old", BatchContext("r", "b-old", "2026-01-01", "v0"))]
    )
    buf = pa.BufferOutputStream()
    pq.write_table(old.drop_columns(["source_etag"]), buf)
    lake.store.put("documents/ingest_date=2026-01-01/b-old.parquet", buf.getvalue().to_pybytes())
    old_file = "documents/ingest_date=2026-01-01/b-old.parquet"
    lake.store.put(  # a commit record as lakes wrote them before the log
        "_commits/b-old.json",
        json.dumps({"batch_id": "b-old", "run_id": "r", "ingest_date": "2026-01-01",
                    "files": [old_file],
                    "tables": {"documents": {"rows": 1, "file": old_file}}}).encode(),
    )  # fmt: skip
    docs = lake.read_table("documents", columns=["doc_id", "source_etag", "ingest_date"])
    assert sorted(docs.column("doc_id").to_pylist()) == ["d0", "d1", "d2", "d3", "d4", "d5", "old"]
    assert docs.column("source_etag").null_count == 7
    assert len(lake.commits()) == 7


def test_typed_rows_are_exactly_the_table_columns() -> None:
    from dataclasses import fields

    assert set(ROW_TYPES) == set(TABLES)
    for name, row_type in ROW_TYPES.items():
        assert [f.name for f in fields(row_type)] == SCHEMAS[name].names, name
