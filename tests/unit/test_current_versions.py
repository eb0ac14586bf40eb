"""Current versions and tombstones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.versions import current_documents
from tests.unit.test_lake import doc_row

T = datetime(2026, 11, 1, tzinfo=UTC)


def test_current_version_is_the_latest_and_tombstones_hide_a_uri(tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path))

    def write(batch: str, *rows: dict) -> None:
        lake.write_batch(
            BatchContext("run-v", batch, "2026-11-01", "v1"), {"documents": list(rows)}
        )

    ctx = BatchContext("run-v", "rrunv-b1", "2026-11-01", "v1")
    write("rrunv-b1",
          doc_row("old", ctx, source_uri="/s/a.pdf", bytes=10, ingested_at=T),
          doc_row("b1", ctx, source_uri="/s/b.pdf", ingested_at=T))
    ctx2 = BatchContext("run-v", "rrunv-b2", "2026-11-01", "v1")
    write("rrunv-b2",  # a.pdf edited: a new version in two segments
          doc_row("new", ctx2, source_uri="/s/a.pdf", bytes=20, pages=4, page_start=0,
                  page_end=2, ingested_at=T + timedelta(days=1)),
          doc_row("new", ctx2, source_uri="/s/a.pdf", bytes=20, pages=4, page_start=2,
                  page_end=4, ingested_at=T + timedelta(days=1)))
    current = current_documents(lake, ["source_uri", "doc_id", "page_start"]).to_pylist()
    assert current == [{"source_uri": "/s/a.pdf", "doc_id": "new", "page_start": 0},
                       {"source_uri": "/s/a.pdf", "doc_id": "new", "page_start": 2},
                       {"source_uri": "/s/b.pdf", "doc_id": "b1", "page_start": 0}]
    ctx3 = BatchContext("run-v", "rrunv-b3", "2026-11-01", "v1")
    write("rrunv-b3", doc_row("b1", ctx3, source_uri="/s/b.pdf", status="deleted", bytes=0,
                              pages=0, page_end=0, source_etag="deleted@run-v",
                              ingested_at=T + timedelta(days=2)))
    assert [r["source_uri"] for r in current_documents(lake, ["source_uri"]).to_pylist()] == [
        "/s/a.pdf", "/s/a.pdf"]
    assert lake.read_table("documents").num_rows == 5  # history is kept
