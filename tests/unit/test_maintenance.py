"""Checkpoints and compaction: readers see every row once before, during and after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocr_tasks.core.errors import LakeBusy
from ocr_tasks.lake.maintenance import checkpoint, compact
from ocr_tasks.lake.manifest import load_manifest, row_fingerprint
from ocr_tasks.lake.rows import BatchContext, as_dicts, page_rows, run_tag
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from tests.unit.test_lake import doc_row, run_row, sample_page


def fill(lake: Lake, batches: int, start: int = 0, run_id: str = "run-m") -> None:
    for b in range(start, start + batches):
        ctx = BatchContext(run_id, f"{run_tag(run_id)}-b{b:04d}", f"2026-03-0{1 + b % 2}", "v1")
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


def reads(lake: Lake) -> list[str]:
    """Keys the lake's store is asked for from now on (whole or as a local file)."""
    got: list[str] = []
    get, local_path = lake.store.get, lake.store.local_path

    def recorded(key: str) -> bytes:
        got.append(key)
        return get(key)

    def recorded_path(key: str) -> Any:
        got.append(key)
        return local_path(key)

    lake.store.get = recorded  # type: ignore[method-assign]
    lake.store.local_path = recorded_path  # type: ignore[method-assign]
    return got


def test_recent_runs_read_only_the_newest_days(lake: Lake) -> None:
    starts = {"run-a": (1, 9), "run-b": (1, 22), "run-c": (2, 8), "run-d": (3, 1), "run-e": (3, 7)}
    for run_id, (day, hour) in starts.items():
        lake.write_run({**run_row("completed", None), "run_id": run_id,
                        "started_at": datetime(2026, 3, day, hour, tzinfo=UTC)})
    got = reads(lake)
    assert [r["run_id"] for r in lake.recent_runs(2)] == ["run-d", "run-e"]
    assert got and all("ingest_date=2026-03-03" in key for key in got)
    got.clear()
    assert [r["run_id"] for r in lake.recent_runs(3)] == ["run-c", "run-d", "run-e"]
    assert not any("ingest_date=2026-03-01" in key for key in got)
    assert [r["run_id"] for r in lake.recent_runs(10)] == sorted(starts)
    assert lake.recent_runs(0) == []


def test_checkpointed_records_read_from_s3(s3_endpoint: Any) -> None:
    """On S3 the checkpoint's records come through a spooled temp file, all of them once."""
    lake = Lake.open(f"s3://{s3_endpoint.make_bucket()}/lake", s3_endpoint.settings())
    lake.log.margin_s = 0.0
    fill(lake, 3, run_id="run-old")
    assert checkpoint(lake) is not None
    fill(lake, 1, start=3, run_id="run-new")
    assert sorted(r.batch_id for r in lake.commits()) == [
        "rrunnew-b0003", "rrunold-b0000", "rrunold-b0001", "rrunold-b0002"]
    assert len(lake.run_commits(["run-old"])) == 3
    keys = page_keys(lake)
    assert len(keys) == len(set(keys)) == 12


def test_batches_of_recent_runs_leave_the_checkpoint_unread(lake: Lake) -> None:
    fill(lake, 3, run_id="run-old")
    fill(lake, 2, start=3, run_id="run-mid")
    made = checkpoint(lake)
    assert made is not None and made.batches == 5
    fill(lake, 1, start=5, run_id="run-mid")  # that run went on after the checkpoint
    fill(lake, 2, start=6, run_id="run-new")
    got = reads(lake)
    later = datetime.now(UTC) + timedelta(hours=2)  # past the checkpoint's cutoff + clock skew
    new = lake.run_commits(["run-new"], since=later)
    assert sorted(r.batch_id for r in new) == ["rrunnew-b0006", "rrunnew-b0007"]
    assert made.commits not in got  # only the log's tail was read
    mid = lake.run_commits(["run-mid"], since=datetime(2026, 3, 1, tzinfo=UTC))
    assert sorted(r.batch_id for r in mid) == ["rrunmid-b0003", "rrunmid-b0004", "rrunmid-b0005"]
    assert made.commits in got  # began before the checkpoint: its rows of the run are read
    assert {r.batch_id for r in lake.run_commits(["run-old", "run-new"])} == {
        "rrunold-b0000", "rrunold-b0001", "rrunold-b0002", "rrunnew-b0006", "rrunnew-b0007"}


def test_one_compaction_at_a_time(lake: Lake) -> None:
    lake.store.put("_maintenance/compacting.json", b"{}")
    with pytest.raises(LakeBusy, match="another compaction"):
        compact(lake)
