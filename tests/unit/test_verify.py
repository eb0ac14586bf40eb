"""verify: each invariant on small lakes written through the real commit protocol."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from ocr_tasks.cli import main
from ocr_tasks.io.storage import LocalStore
from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.schema import SCHEMAS, rows_to_table
from ocr_tasks.lake.tables import Lake, data_key
from ocr_tasks.lake.verify import verify_lake

DAY = "2026-01-02"
MTIME = datetime(2026, 1, 1, tzinfo=UTC)


def row(table: str, **values: Any) -> dict[str, Any]:
    out = {f.name: None for f in SCHEMAS[table]}
    out.update(run_id="r1", **values)
    return out


def doc(uri: str, doc_id: str, batch: str, start: int = 0, end: int = 1, pages: int = 1,
        status: str = "ok", size: int = 10, mtime: datetime = MTIME) -> dict[str, Any]:
    return row("documents", doc_id=doc_id, source_uri=uri, bytes=size, pages=pages,
               page_start=start, page_end=end, status=status, source_mtime=mtime, batch_id=batch)


def page(doc_id: str, index: int, batch: str) -> dict[str, Any]:
    return row("pages", doc_id=doc_id, page=index, batch_id=batch, text="x")


def error(doc_id: str, batch: str, kind: str, page_: int | None = None,
          retryable: bool = False) -> dict[str, Any]:
    return row("errors", doc_id=doc_id, page=page_, kind=kind, retryable=retryable, batch_id=batch,
               message=kind)


def commit(
    lake: Lake,
    batch: str,
    docs: list[dict],
    pages: list[dict] = (),  # type: ignore[assignment]
    errors: list[dict] = (),
) -> None:  # type: ignore[assignment]
    ctx = BatchContext("r1", batch, DAY, "m1")
    lake.write_batch(ctx, {"documents": docs, "pages": list(pages), "errors": list(errors)})


def ocr(lake: Lake, batch: str, uri: str, doc_id: str, start: int, end: int, pages: int) -> None:
    commit(lake, batch, [doc(uri, doc_id, batch, start, end, pages)],
           [page(doc_id, i, batch) for i in range(start, end)])


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(LocalStore(tmp_path / "lake"))


def kinds(lake: Lake, source: LocalStore | None = None) -> list[str]:
    return sorted(p.kind for p in verify_lake(lake, source).problems)


def test_clean_lake_segments_errors_and_duplicates(lake: Lake) -> None:
    ocr(lake, "b1", "/s/a.pdf", "A", 0, 2, 3)
    commit(lake, "b2", [doc("/s/a.pdf", "A", "b2", 2, 3, 3, status="partial"),
                        doc("/s/copy.pdf", "A", "b2", 0, 0, 0, status="duplicate"),
                        doc("/s/bad.pdf", "uri-x", "b2", 0, 0, 0, status="error")],
           errors=[error("A", "b2", "too_large", page_=2), error("uri-x", "b2", "corrupt")])
    report = verify_lake(lake)
    assert report.ok, report.problems
    assert (report.documents, report.processed, report.errored, report.duplicates) == (3, 1, 1, 1)
    assert (report.pages, report.batches) == (2, 2)
    assert "verify OK" in report.describe()


def test_source_documents_missing_or_changed(lake: Lake, tmp_path: Path) -> None:
    source = LocalStore(tmp_path / "src")
    source.put("one.png", b"1" * 10)
    source.put("two.png", b"2" * 10)
    source.put("one.gt.txt", b"sidecar, not a document")
    infos = {i.key: i for i in source.list()}
    commit(lake, "b1", [doc(source.uri("one.png"), "D1", "b1", 0, 0, 0, status="error",
                            mtime=infos["one.png"].mtime)], errors=[error("D1", "b1", "corrupt")])
    assert [p.subject for p in verify_lake(lake, source).problems] == [source.uri("two.png")]
    source.put("one.png", b"changed!")
    report = verify_lake(lake, source)
    assert [p.kind for p in report.problems] == ["missing", "missing"]
    assert "changed since it was ingested" in str(report.problems[0])
    assert report.documents == 2


def test_pages_committed_twice(lake: Lake) -> None:
    ocr(lake, "b1", "/s/a.pdf", "A", 0, 2, 2)
    ocr(lake, "b2", "/s/a.pdf", "A", 1, 2, 2)
    assert kinds(lake) == ["duplicate_rows", "twice"]


def test_two_final_outcomes_for_one_document(lake: Lake) -> None:
    commit(lake, "b1", [doc("/s/x.png", "X", "b1", 0, 0, 0, status="duplicate"),
                        doc("/s/y.png", "X", "b1")], [page("X", 0, "b1")])
    commit(lake, "b2", [doc("/s/x.png", "X", "b2", 0, 0, 0, status="error")],
           errors=[error("X", "b2", "corrupt")])
    report = verify_lake(lake)
    assert [(p.kind, p.subject) for p in report.problems] == [("twice", "/s/x.png")]


def test_retryable_failures_are_history(lake: Lake) -> None:
    commit(lake, "b1-failed", [doc("/s/a.pdf", "A", "b1-failed", 0, 2, 2, status="error")],
           errors=[error("A", "b1-failed", "batch_failed", retryable=True)])
    report = verify_lake(lake)
    assert report.ok and report.pending_retry == 1 and report.processed == 0
    ocr(lake, "b2", "/s/a.pdf", "A", 0, 2, 2)
    report = verify_lake(lake)
    assert report.ok and (report.pending_retry, report.processed) == (0, 1)


def test_missing_pages_without_a_retry_are_lost(lake: Lake) -> None:
    ocr(lake, "b1", "/s/a.pdf", "A", 0, 2, 4)
    commit(lake, "b2-failed", [doc("/s/a.pdf", "A", "b2-failed", 2, 3, 4, status="error")],
           errors=[error("A", "b2-failed", "storage", retryable=True)])
    report = verify_lake(lake)
    assert [p.kind for p in report.problems] == ["pages_missing"]
    assert "pages 3 of 4" in report.problems[0].detail


def test_page_without_row_or_error(lake: Lake) -> None:
    commit(
        lake, "b1", [doc("/s/a.pdf", "A", "b1", 0, 3, 3)], [page("A", 0, "b1"), page("A", 2, "b1")]
    )
    commit(
        lake,
        "b2",
        [doc("/s/b.pdf", "B", "b2", 0, 2, 2, status="partial")],
        [page("B", 0, "b2")],
        errors=[error("B", "b2", "corrupt", page_=1)],
    )
    commit(
        lake, "b3", [doc("/s/c.pdf", "C", "b3", 0, 1, 1)], [page("C", 0, "b3"), page("C", 5, "b3")]
    )
    report = verify_lake(lake)
    assert sorted((p.kind, p.detail.split(":")[-1].strip()) for p in report.problems) == [
        ("orphan_rows", "pages 5 have no documents row"),
        ("pages_unaccounted", "pages 1 have neither a pages row nor an error row"),
    ]


def parquet(table: str, rows: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(rows_to_table(table, rows), buf)
    return buf.getvalue()


def test_commit_integrity(lake: Lake) -> None:
    ocr(lake, "b1", "/s/a.pdf", "A", 0, 1, 1)
    ocr(lake, "b2", "/s/b.pdf", "B", 0, 2, 2)
    lake.store.delete(data_key("pages", DAY, "b1"))
    lake.store.put(data_key("pages", DAY, "b2"), parquet("pages", [page("B", 0, "b2")]))
    lake.store.put(data_key("pages", DAY, "b3"), parquet("pages", [page("C", 0, "b3")]))
    lake.write_batch(
        BatchContext("r1", "b4", DAY, "m1"), {"batches": [row("batches", batch_id="b4")]}
    )
    lake.store.delete(data_key("batches", DAY, "b4"))  # every table's file counts, not just pages
    report = verify_lake(lake)
    assert sorted((p.kind, p.subject) for p in report.problems) == [
        ("missing_file", "b1"),
        ("missing_file", "b4"),
        ("pages_unaccounted", "/s/a.pdf"),  # the consequence of the lost file
        ("pages_unaccounted", "/s/b.pdf"),
        ("row_count", "b2"),
        ("uncommitted_file", data_key("pages", DAY, "b3")),
    ]
    assert any("1 rows, commit says 2" in p.detail for p in report.problems)


def test_cli_exit_codes(lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ocr(lake, "b1", "/s/a.pdf", "A", 0, 1, 1)
    assert main(["verify", "--lake", lake.uri]) == 0
    assert "verify OK" in capsys.readouterr().out
    ocr(lake, "b2", "/s/a.pdf", "A", 0, 1, 1)
    assert main(["verify", "--lake", lake.uri, "--max-problems", "1"]) == 1
    out = capsys.readouterr()
    assert "FAILED (2 problems)" in out.out and "... and 1 more" in out.err
    empty_source = tmp_path / "empty"
    empty_source.mkdir()
    assert main(["verify", "--lake", lake.uri, "--source", str(empty_source)]) == 1
