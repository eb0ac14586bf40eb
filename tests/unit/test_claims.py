"""Leases and claims: the rules that keep two runs from OCR'ing one document."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocr_tasks.core.errors import LeaseLost
from ocr_tasks.io.storage import LocalStore
from ocr_tasks.lake.claims import Claims, Outcome
from ocr_tasks.lake.leases import Lease, RunLease, check_lease, lease_key, read_lease


def expire(store: LocalStore, run_id: str) -> None:
    """Make a run's lease look as if its process died a while ago."""
    lease, _ = read_lease(store, run_id)  # type: ignore[misc]
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    stale = Lease(**{**lease.__dict__, "expires_at": past, "heartbeat_at": past})
    store.put(lease_key(run_id), stale.to_json())


def hold(store: LocalStore, run_id: str) -> RunLease:
    lease = RunLease(store, run_id, flow="test", source="src", ingest_date="2026-11-28",
                     ttl_s=60, heartbeat_s=10)
    lease.acquire()
    return lease


def test_a_live_owner_keeps_its_document_a_dead_one_loses_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    hold(store, "run-a"), hold(store, "run-b")
    a, b = Claims(store, "run-a"), Claims(store, "run-b")
    assert a.acquire("d" * 64, "/src/x.png", "1|t").outcome is Outcome.OURS
    got = b.acquire("d" * 64, "/src/x.png", "1|t")
    assert got.outcome is Outcome.ELSEWHERE and got.owner is not None
    assert got.owner.run_id == "run-a"
    expire(store, "run-a")
    taken = b.acquire("d" * 64, "/src/x.png", "1|t")
    assert taken.outcome is Outcome.OURS and taken.taken_over
    assert taken.claim.previous_runs == ("run-a",)
    assert not a.mark_done("d" * 64)  # the dead run may not close what it lost
    assert b.mark_done("d" * 64)
    done = Claims(store, "run-c").acquire("d" * 64, "/src/copy.png", "1|u")
    assert done.outcome is Outcome.DONE and not done.claim.is_object("/src/copy.png", "1|u")
    assert done.claim.is_object("/src/x.png", "1|t")


def test_racing_runs_get_one_owner(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    runs = [f"run-{i}" for i in range(8)]
    for run in runs:
        hold(store, run)
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(len(runs))

    def race(run: str) -> None:
        barrier.wait()
        outcomes.append(Claims(store, run).acquire("e" * 64, "/src/y.png").outcome)

    threads = [threading.Thread(target=race, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.value for o in outcomes) == ["elsewhere"] * 7 + ["ours"]


def test_a_lost_lease_stops_renewal_and_fences_commits(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    lease = hold(store, "run-a")
    check_lease(store, "run-a")  # live: passes
    assert lease.renew()
    store.delete(lease_key("run-a"))  # swept by another run after an outage
    assert not lease.renew() and lease.lost
    with pytest.raises(LeaseLost):
        check_lease(store, "run-a")
    with pytest.raises(LeaseLost, match="already holds a live lease"):
        hold(store, "run-b"), hold(store, "run-b")
