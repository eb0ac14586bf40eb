"""``ocr-pipeline query`` on an S3 lake (SeaweedFS on loopback): committed files only, read
through pyarrow's S3 filesystem, with no DuckDB extension installed, loaded or downloaded."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from ocr_tasks.cli import main
from ocr_tasks.core.errors import ExitCode
from ocr_tasks.lake.query import connect
from ocr_tasks.lake.tables import Lake
from tests.s3server import S3Server
from tests.unit.test_query import example_lake_in, write_uncommitted


def test_s3_lake_answers_queries_without_extensions(
        s3_endpoint: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"s3://{s3_endpoint.make_bucket()}/ocr/lake"
    lake = example_lake_in(Lake.open(uri, s3_endpoint.settings()))
    write_uncommitted(lake, "run-late", "late", "2026-11-02")

    con = connect(lake)
    empty = tmp_path / "extensions"
    empty.mkdir()
    con.execute(f"SET extension_directory = '{empty}'")  # nothing installed to fall back on
    per_day = con.execute("select ingest_date::varchar, count(*) from pages "
                          "group by all order by 1").fetchall()
    assert per_day == [("2026-11-01", 4), ("2026-11-02", 2)]  # not 'ghost', not 'late'
    assert con.execute("select source_uri, doc_id from documents_current").fetchall() == [
        ("/s/a.pdf", "d3")]
    loaded = con.execute("select extension_name from duckdb_extensions() "
                         "where loaded and extension_name in ('httpfs', 'aws')").fetchall()
    assert loaded == [] and list(empty.iterdir()) == []

    for name, value in {"OCR_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
                        "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
                        "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
                        "AWS_DEFAULT_REGION": s3_endpoint.region}.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["query", uri, "select doc_id, count(*) as pages from pages "
                     "group by doc_id order by doc_id", "--format", "json"])
    assert code == ExitCode.OK
    assert json.loads(out.getvalue()) == [
        {"doc_id": "d1", "pages": 2}, {"doc_id": "d2", "pages": 2}, {"doc_id": "d3", "pages": 2}]
