"""``ocr-pipeline query``: DuckDB views over committed files only (local lake; the S3 lake is
in tests/integration/test_query_s3.py)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ocr_tasks.cli import main
from ocr_tasks.core.errors import ExitCode, InputError
from ocr_tasks.lake.query import connect, query
from ocr_tasks.lake.rows import BatchContext, run_tag
from ocr_tasks.lake.schema import rows_to_table
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.versions import current_documents
from tests.unit.test_lake import batch_rows, doc_row

T = datetime(2026, 11, 1, tzinfo=UTC)


def write_uncommitted(lake: Lake, run_id: str, doc_id: str, day: str) -> str:
    """A batch's data file with no commit: what a batch being written, or a run that died,
    leaves in the folders."""
    batch_id = f"{run_tag(run_id)}-b9999"
    ctx = BatchContext(run_id, batch_id, day, "v1")
    buf = pa.BufferOutputStream()
    pq.write_table(rows_to_table("pages", batch_rows(ctx, [doc_id])["pages"]), buf)
    key = f"pages/ingest_date={day}/{batch_id}.parquet"
    lake.store.put(key, buf.getvalue().to_pybytes())
    return key


def example_lake(root: Path) -> Lake:
    return example_lake_in(Lake.open(str(root)))


def example_lake_in(lake: Lake) -> Lake:
    """Two committed batches on two days, a document in two versions, one tombstone, and an
    uncommitted batch."""
    ctx1 = BatchContext("run-q", "rrunq-b1", "2026-11-01", "v1")
    rows = batch_rows(ctx1, ["d1", "d2"])
    rows["documents"] = [doc_row("d1", ctx1, source_uri="/s/a.pdf", bytes=10, ingested_at=T),
                         doc_row("d2", ctx1, source_uri="/s/b.pdf", ingested_at=T)]
    lake.write_batch(ctx1, rows)
    ctx2 = BatchContext("run-q", "rrunq-b2", "2026-11-02", "v1")
    rows = batch_rows(ctx2, ["d3"])
    rows["documents"] = [
        doc_row("d3", ctx2, source_uri="/s/a.pdf", bytes=20, ingested_at=T + timedelta(days=1)),
        doc_row("d2", ctx2, source_uri="/s/b.pdf", status="deleted", bytes=0, pages=0,
                page_end=0, source_etag="deleted@run-q", ingested_at=T + timedelta(days=1)),
    ]
    lake.write_batch(ctx2, rows)
    write_uncommitted(lake, "run-dead", "ghost", "2026-11-02")
    return lake


def rows_of(lake: Lake, sql: str) -> list[dict]:
    result = query(lake, sql)
    return [dict(zip(result.columns, row, strict=True))
            for batch in result.batches for row in zip(*batch.to_pydict().values(), strict=True)]


def test_views_hold_committed_rows_with_their_ingest_date(tmp_path: Path) -> None:
    lake = example_lake(tmp_path / "lake")
    assert (tmp_path / "lake/pages/ingest_date=2026-11-02").is_dir()
    per_day = rows_of(lake, "select ingest_date, count(*) as n, count(distinct doc_id) as docs "
                            "from pages group by ingest_date order by ingest_date")
    assert per_day == [{"ingest_date": date(2026, 11, 1), "n": 4, "docs": 2},
                       {"ingest_date": date(2026, 11, 2), "n": 2, "docs": 1}]
    assert rows_of(lake, "select count(*) as n from pages where doc_id = 'ghost'") == [{"n": 0}]
    joined = rows_of(lake, "select d.source_uri, count(*) as words from words w "
                           "join documents_current d using (doc_id) group by all order by 1")
    assert joined == [{"source_uri": "/s/a.pdf", "words": 4}]  # d3; b.pdf is deleted
    assert rows_of(lake, "select count(*) as n from runs") == [{"n": 0}]  # empty tables exist


def test_documents_current_is_the_current_version_rule(tmp_path: Path) -> None:
    lake = example_lake(tmp_path / "lake")
    view = rows_of(lake, "select source_uri, doc_id, page_start from documents_current")
    assert view == current_documents(lake, ["source_uri", "doc_id", "page_start"]).to_pylist()
    assert view == [{"source_uri": "/s/a.pdf", "doc_id": "d3", "page_start": 0}]


def test_connection_never_loads_extensions(tmp_path: Path) -> None:
    con = connect(example_lake(tmp_path / "lake"))
    settings = dict(con.execute(
        "select name, value from duckdb_settings() where name in "
        "('autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
    assert settings == {"autoinstall_known_extensions": "false",
                        "autoload_known_extensions": "false"}


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_prints_table_csv_and_json(tmp_path: Path) -> None:
    lake = example_lake(tmp_path / "lake")
    sql = ("select ingest_date, count(*) as pages, min(text) as text from pages "
           "group by ingest_date order by ingest_date")
    code, out, _ = run_cli("query", lake.uri, sql)
    assert code == ExitCode.OK
    assert out.splitlines() == [
        "ingest_date  pages  text",
        "-----------  -----  -----------",
        "2026-11-01       4  Hello world",
        "2026-11-02       2  Hello world",
        "(2 rows)",
    ]
    code, out, _ = run_cli("query", lake.uri, sql, "--format", "csv")
    assert list(csv.reader(io.StringIO(out))) == [
        ["ingest_date", "pages", "text"], ["2026-11-01", "4", "Hello world"],
        ["2026-11-02", "2", "Hello world"]]
    code, out, _ = run_cli("query", lake.uri, "select doc_id, polygon from lines "
                           "where doc_id = 'd3' order by page limit 1", "--format", "json")
    assert code == ExitCode.OK
    got = json.loads(out)
    assert isinstance(got, list) and got[0]["doc_id"] == "d3" and len(got[0]["polygon"]) == 8
    code, out, _ = run_cli("query", lake.uri, "select 1 as x where false", "--format", "json")
    assert json.loads(out) == []


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    lake = example_lake(tmp_path / "lake")
    code, out, err = run_cli("query", lake.uri, "select nope from pages")
    assert code == ExitCode.BAD_INPUT and out == ""
    assert err.startswith("error (invalid): query refused: Binder Error") and err.count("\n") == 1
    code, _, err = run_cli("query", str(tmp_path / "missing"), "select 1")
    assert code == ExitCode.BAD_INPUT
    missing = tmp_path / "missing"
    assert err == f"error (not_a_lake): no lake at {missing}: the folder does not exist\n"
    assert not (tmp_path / "missing").exists()  # nothing created


def test_query_of_a_folder_that_is_no_lake_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "scan.png").write_bytes(b"x")
    with pytest.raises(InputError, match="no commit log"):
        query(Lake.open_existing(str(tmp_path / "src")), "select 1")
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == ["scan.png"]
