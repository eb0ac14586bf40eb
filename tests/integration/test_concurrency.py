"""Runs that overlap on one lake: every page exactly once, and ``verify`` proves it.

Each run is the real CLI in its own process (its own Prefect client and Dask cluster), as two
cron jobs or a nightly run beside a weeks-long backfill would be. Leases are short here
(TTL 9 s, heartbeat 3 s) so that a killed run's documents are taken over quickly.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ocr_tasks.io.storage import open_store
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from tests.faults import NO_CANARIES, wait_for
from tests.integration.conftest import write_document

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

REPO = Path(__file__).resolve().parents[2]
LEASE_ENV = {"OCR_LEASE_TTL_S": "9", "OCR_LEASE_HEARTBEAT_S": "3"}


def archive(folder: Path) -> int:
    """Eleven documents, 12 pages, in two folders (``b/`` is what a backfill takes)."""
    pages = 0
    for i in range(6):
        write_document(folder, f"a/claim {i}.png", [[f"Claim CLM-{2000 + i}"]])
        pages += 1
    for i in range(4):
        write_document(folder, f"b/letter {i}.png", [[f"Letter L-{300 + i}"]])
        pages += 1
    write_document(folder, "b/policy.pdf", [["Policy POL-1"], ["Premium EUR 12"]])
    return pages + 2


def start(args: list[str], prefect_api: str) -> subprocess.Popen[str]:
    env = {**os.environ, **NO_CANARIES, **LEASE_ENV, "PREFECT_API_URL": prefect_api}
    cmd = [sys.executable, "-m", "ocr_tasks.cli", *args, "--batch-pages", "1",
           "--workers", "1", "--max-in-flight", "2", "--no-progress"]
    return subprocess.Popen(cmd, env=env, cwd=REPO, text=True, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def pages_done(summary: str) -> int:
    match = re.search(r"documents, (\d+) pages", summary)
    assert match, summary
    return int(match.group(1))


def assert_every_page_once(lake_dir: Path, src: Path, pages: int, documents: int) -> None:
    lake = Lake.open(str(lake_dir))
    rows = lake.read_table("pages", columns=["doc_id", "page"]).to_pylist()
    assert len(rows) == len({(r["doc_id"], r["page"]) for r in rows}) == pages
    report = verify_lake(lake, open_store(str(src)))
    assert report.ok, [str(p) for p in report.problems]
    assert report.processed == documents


def leases(lake_dir: Path) -> list[str]:
    folder = lake_dir / "_runs/live"
    return sorted(p.name for p in folder.glob("*.json") if not p.name.startswith(".")) if \
        folder.is_dir() else []


def log_entries(lake_dir: Path) -> list[Path]:
    return [p for p in (lake_dir / "_log").rglob("*.json")] if (lake_dir / "_log").is_dir() else []


def test_two_ingests_at_once_store_every_page_once(tmp_path: Path, prefect_api: str) -> None:
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    pages = archive(src)
    first = start(["ingest", str(src), "--lake", str(lake_dir)], prefect_api)
    wait_for(lambda: (lake_dir / "_runs/live").is_dir() or first.poll() is not None, 120,
             "the first run's lease")
    second = start(["ingest", str(src), "--lake", str(lake_dir)], prefect_api)
    out1, out2 = finish(first), finish(second)
    assert pages_done(out1) + pages_done(out2) == pages, (out1, out2)
    assert_every_page_once(lake_dir, src, pages, 11)


def test_nightly_beside_an_overlapping_backfill(tmp_path: Path, prefect_api: str) -> None:
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    pages = archive(src)
    backfill = start(["backfill", str(src / "b"), "--lake", str(lake_dir)], prefect_api)
    nightly = start(["ingest", str(src), "--lake", str(lake_dir)], prefect_api)
    out_b, out_n = finish(backfill), finish(nightly)
    assert pages_done(out_b) + pages_done(out_n) == pages, (out_b, out_n)
    assert pages_done(out_b) <= 6  # the backfill only ever takes b/
    assert_every_page_once(lake_dir, src, pages, 11)


def test_a_run_killed_holding_its_lease_is_taken_over(tmp_path: Path, prefect_api: str) -> None:
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    pages = archive(src)
    killed = start(["ingest", str(src), "--lake", str(lake_dir)], prefect_api)
    try:
        wait_for(lambda: log_entries(lake_dir) or killed.poll() is not None, 300,
                 "the first commit")
    finally:
        os.killpg(killed.pid, signal.SIGKILL)  # the flow process and its Dask worker
        killed.wait(timeout=30)
    committed = len(Lake.open(str(lake_dir)).read_table("pages", columns=["page"]))
    assert 1 <= committed < pages, "kill the run mid-way"
    dead = leases(lake_dir)
    assert len(dead) == 1, "the dead run's lease is still there"
    t0 = time.monotonic()
    out = finish(start(["ingest", str(src), "--lake", str(lake_dir)], prefect_api))
    assert pages_done(out) == pages - committed, out
    assert time.monotonic() - t0 < 300
    assert leases(lake_dir) == [], (dead, out)  # the dead one swept, its own released
    assert_every_page_once(lake_dir, src, pages, 11)


def test_compaction_while_an_ingest_runs_keeps_every_row_once(tmp_path: Path,
                                                              prefect_api: str) -> None:
    from ocr_tasks.lake.maintenance import compact

    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    pages = archive(src)
    ingest = start(["ingest", str(src), "--lake", str(lake_dir)], prefect_api)
    lake = Lake.open(str(lake_dir))
    seen, compactions = 0, 0
    while ingest.poll() is None:
        if log_entries(lake_dir):
            compact(lake, delete_after_s=0)
            compactions += 1
        rows = lake.read_table("pages", columns=["doc_id", "page"]).to_pylist()
        keys = {(r["doc_id"], r["page"]) for r in rows}
        assert len(rows) == len(keys) and len(rows) >= seen  # once each, never fewer
        seen = len(rows)
        time.sleep(0.5)
    finish(ingest)
    compact(lake, delete_after_s=0)
    compact(lake, delete_after_s=0)  # deletes what the one before replaced
    assert compactions >= 1
    assert_every_page_once(lake_dir, src, pages, 11)
    files = [p for p in (lake_dir / "pages").rglob("*.parquet")]
    assert all(p.name.startswith("compact-") for p in files), files
