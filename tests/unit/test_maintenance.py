"""Checkpoints and compaction: readers see every row once before, during and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_tasks.core.errors import LakeBusy
from ocr_tasks.lake.maintenance import checkpoint, compact
from ocr_tasks.lake.manifest import load_manifest, row_fingerprint
from ocr_tasks.lake.rows import BatchContext, as_dicts, page_rows
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from tests.unit.test_lake import doc_row, sample_page


def fill(lake: Lake, batches: int, start: int = 0) -> None:
    for b in range(start, start + batches):
        ctx = BatchContext("run-m", f"rrunm-b{b:04d}", f"2026-03-0{1 + b % 2}", "v1")
        rows: dict[str, list] = {"documents": [], "pages": [], "lines": [], "words": []}
        for d in range(3):
            doc = f"doc{b}-{d}"
            rows["documents"].append(doc_row(doc, ctx, source_uri=f"/src/{doc}.png", pages=1,
                                             page_end=1))
            for name, r in page_rows(doc, sample_page(0), ctx, review_confidence=0.8).items():
                rows[name].extend(as_dicts(r))
        lake.write_batch(ctx, rows)


def page_keys(lake: Lake) -> list[tuple[str, int]]:
    return sorted((r["doc_id"], r["page"])
                  for r in lake.read_table("pages", columns=["doc_id", "page"]).to_pylist())


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.open(str(tmp_path / "lake"))
    lake.log.margin_s = 0.0  # let checkpoints fold everything committed so far
    return lake


def test_compaction_keeps_every_row_once_and_verify_green(lake: Lake) -> None:
    fill(lake, 12)
    before = page_keys(lake)
    report = compact(lake, delete_after_s=0)
    assert report.tables["pages"] == (12, 2)  # one file per day partition
    assert report.checkpoint == 1
    assert page_keys(lake) == before and len(before) == len(set(before)) == 36
    assert verify_lake(lake).ok
    fill(lake, 4, start=12)  # ingestion goes on after the compaction
    keys = page_keys(lake)
    assert len(keys) == len(set(keys)) == 48
    second = compact(lake, delete_after_s=0)
    assert second.deleted == 12 * 4  # the first compaction's small files, once their grace ended
    assert page_keys(lake) == keys
    assert verify_lake(lake).ok
    assert lake.read_batches("pages", ["rrunm-b0003"], ["doc_id"]).num_rows == 3


def test_checkpoint_bounds_what_a_run_start_reads(lake: Lake) -> None:
    fill(lake, 6)
    made = checkpoint(lake)
    assert made is not None and made.batches == 6
    fill(lake, 2, start=6)
    snapshot = lake.snapshot()
    assert snapshot.checkpoint == made and len(snapshot.tail) == 2  # only the newer entries
    manifest = load_manifest(lake, prefix="/src/")
    docs = lake.read_table("documents").to_pylist()
    assert len(manifest.done_fingerprints) == len(docs) == 24
    assert all(row_fingerprint(d) in manifest.done_fingerprints for d in docs)
    assert len(load_manifest(lake, prefix="/elsewhere/").done_fingerprints) == 0
    assert checkpoint(lake) is not None and checkpoint(lake) is None  # nothing left to fold


def test_one_compaction_at_a_time(lake: Lake) -> None:
    lake.store.put("_maintenance/compacting.json", b"{}")
    with pytest.raises(LakeBusy, match="another compaction"):
        compact(lake)
