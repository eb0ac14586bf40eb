"""The main job end to end: Prefect flows, a real Dask LocalCluster, the real engine, Parquet.

Local folders and S3 buckets (SeaweedFS on loopback) go through the same code path.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rapidfuzz.distance import Levenshtein

from ocr_tasks.lake.tables import Lake
from ocr_tasks.pipeline.job import RunSummary
from tests.integration.conftest import TINY_ARCHIVE, write_document


def run_flow(flow_name: str, **params: Any) -> RunSummary:
    from flows.ingest import backfill, nightly_ingest
    from flows.runtime import dask_task_runner

    flow = {"nightly_ingest": nightly_ingest, "backfill": backfill}[flow_name]
    return flow.with_options(task_runner=dask_task_runner(workers=1))(**params)


def table(lake: Path, name: str) -> list[dict[str, Any]]:
    files = str(lake / name / "*" / "*.parquet")
    return (
        duckdb.sql(f"select * from read_parquet('{files}', hive_partitioning=true)")
        .df()
        .to_dict("records")
    )


def cer(reference: str, prediction: str) -> float:
    return Levenshtein.distance(reference, prediction) / max(1, len(reference))


@pytest.mark.usefixtures("prefect_api")
def test_nightly_ingest_then_nothing_then_only_the_new_file(
    tiny_archive: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    first = run_flow("nightly_ingest", source=str(tiny_archive), lake=str(lake), batch_pages=2)
    assert first.status == "completed"
    assert first.pages == 4

    documents = table(lake, "documents")
    by_uri = {Path(d["source_uri"]).relative_to(tiny_archive).as_posix(): d for d in documents}
    assert set(by_uri) == set(TINY_ARCHIVE) | {"letters/readme.txt"}
    assert by_uri["letters/readme.txt"]["status"] == "error"
    assert [e["kind"] for e in table(lake, "errors")] == ["unsupported"]

    pages = {(d["source_uri"], p["page"]): p for d in documents for p in table(lake, "pages")
             if p["doc_id"] == d["doc_id"]}
    for key, texts in TINY_ARCHIVE.items():
        for index, lines in enumerate(texts):
            predicted = pages[(str(tiny_archive / key), index)]["text"]
            assert cer("\n".join(lines), predicted) < 0.05, (key, index, predicted)
    words = table(lake, "words")
    assert {"Keller", "approved"} <= {w["text"] for w in words}
    assert "Policy POL-7781-22" in {line["text"] for line in table(lake, "lines")}
    assert all(w["x1"] > w["x0"] and w["y1"] > w["y0"] for w in words)

    second = run_flow("nightly_ingest", source=str(tiny_archive), lake=str(lake), batch_pages=2)
    assert (second.documents, second.pages, second.batches) == (0, 0, 0)

    write_document(tiny_archive, "claims/claim 002.png", [["Claim number CLM-2025-0999"]])
    shutil.copy(tiny_archive / "claims/claim 001.png", tiny_archive / "claims/renamed.png")
    third = run_flow("nightly_ingest", source=str(tiny_archive), lake=str(lake), batch_pages=2)
    assert third.pages == 1  # the renamed copy is recognised by content, not processed again
    statuses = {Path(d["source_uri"]).name: d["status"] for d in table(lake, "documents")}
    assert statuses["claim 002.png"] == "ok"
    assert statuses["renamed.png"] == "duplicate"
    pages_rows = table(lake, "pages")
    assert len(pages_rows) == len({(p["doc_id"], p["page"]) for p in pages_rows}) == 5
    assert len(table(lake, "runs")) == 3


@pytest.mark.usefixtures("prefect_api")
def test_backfill_between_buckets_with_limit(tiny_archive: Path, s3_endpoint: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers read the endpoint and credentials from the environment, never from parameters.
    monkeypatch.setenv("OCR_S3_ENDPOINT_URL", s3_endpoint.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_endpoint.region)
    client = s3_endpoint.client()
    source_bucket, lake_bucket = s3_endpoint.make_bucket(), s3_endpoint.make_bucket()
    for path in sorted(tiny_archive.rglob("*")):
        if path.is_file():
            client.upload_file(
                str(path), source_bucket, f"drop/{path.relative_to(tiny_archive).as_posix()}"
            )
    source, lake_uri = f"s3://{source_bucket}/drop", f"s3://{lake_bucket}/ocr"

    first = run_flow("backfill", source=source, lake=lake_uri, limit=2, batch_pages=8)
    assert first.documents == 2
    rest = run_flow("backfill", source=source, lake=lake_uri, batch_pages=8)
    assert rest.documents == 2  # the two not yet done, nothing twice

    lake = Lake.open(lake_uri)
    documents = lake.read_table("documents").to_pylist()
    assert sorted(d["source_uri"].rsplit("/drop/", 1)[1] for d in documents) == sorted(
        list(TINY_ARCHIVE) + ["letters/readme.txt"])
    pages = lake.read_table("pages").to_pylist()
    assert len(pages) == 4 == len({(p["doc_id"], p["page"]) for p in pages})
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=lake_bucket)["Contents"]]
    assert any(k.startswith("ocr/_commits/") for k in keys)
    assert any(k.startswith("ocr/words/ingest_date=") for k in keys)
