"""Run leases: how runs sharing a lake know which of them are alive.

Every run holds ``_runs/live/<run_id>.json`` while it works and renews it (compare-and-swap
on the object's version) every ``heartbeat_s``. A lease whose ``expires_at`` has passed
belongs to a dead run: its document claims may be taken over and its uncommitted files
swept, by whichever run notices first. A run whose renewal fails has lost its lease (someone
swept it after an outage longer than the TTL): it must stop committing, and does, because
every batch checks its run's lease right before it commits.

Clocks: expiry compares the writer's and the reader's wall clocks, so the TTL must exceed
the clock skew between hosts by a wide margin (default 120 s against NTP's milliseconds).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from ocr_tasks.core.errors import LeaseLost, OcrPipelineError
from ocr_tasks.io.storage import ObjectStore
from ocr_tasks.lake.rows import check_id

log = logging.getLogger(__name__)

LIVE = "_runs/live"


def lease_key(run_id: str) -> str:
    return f"{LIVE}/{check_id(run_id, 'run_id')}.json"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lease:
    """A run's claim to be alive, with where it runs so a waiting run can say who it is."""

    run_id: str
    flow: str
    source: str
    ingest_date: str
    host: str
    pid: int
    started_at: str
    heartbeat_at: str
    expires_at: str

    def expired(self, now: datetime | None = None) -> bool:
        return datetime.fromisoformat(self.expires_at) <= (now or _now())

    def stale(self, heartbeat_s: float, now: datetime | None = None) -> bool:
        """Missed two heartbeats: probably dead, not yet expired."""
        age = (now or _now()) - datetime.fromisoformat(self.heartbeat_at)
        return age > timedelta(seconds=2 * heartbeat_s)

    def describe(self) -> str:
        return (f"run {self.run_id} ({self.flow} of {self.source} on {self.host} pid {self.pid}, "
                f"lease until {self.expires_at})")

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Lease:
        return cls(**json.loads(data))


def read_lease(store: ObjectStore, run_id: str) -> tuple[Lease, str] | None:
    """The run's lease and its version, or None when it has none (ended or swept)."""
    got = store.get_versioned(lease_key(run_id))
    if got is None:
        return None
    try:
        return Lease.from_json(got[0]), got[1]
    except (ValueError, TypeError) as e:  # a torn or foreign object: treat as dead
        log.warning("unreadable lease %s: %s", store.uri(lease_key(run_id)), e)
        return None


def check_lease(store: ObjectStore, run_id: str) -> None:
    """The fence a batch passes right before its commit becomes visible."""
    got = read_lease(store, run_id)
    if got is None or got[0].expired():
        raise LeaseLost(f"run {run_id} no longer holds its lease on {store.root_uri}: "
                        "its batches must not commit (another run may have taken its work)")


def live_leases(store: ObjectStore) -> Iterator[tuple[Lease, str]]:
    """Every lease on the lake, live or expired (one small object per unfinished run)."""
    for info in store.list(f"{LIVE}/"):
        run_id = info.key.rsplit("/", 1)[-1].removesuffix(".json")
        got = read_lease(store, run_id)
        if got is not None:
            yield got


class RunLease:
    """Hold a run's lease for the duration of a ``with`` block, renewed by a daemon thread."""

    def __init__(self, store: ObjectStore, run_id: str, *, flow: str, source: str,
                 ingest_date: str, ttl_s: float = 120.0, heartbeat_s: float = 20.0) -> None:
        if heartbeat_s * 3 > ttl_s:
            raise ValueError("the lease TTL must be at least three heartbeats")
        self.store, self.run_id = store, run_id
        self.ttl_s, self.heartbeat_s = ttl_s, heartbeat_s
        now = _now()
        self.lease = Lease(run_id, flow, source, ingest_date, socket.gethostname(), os.getpid(),
                           now.isoformat(), now.isoformat(), self._expiry(now))
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None

    def _expiry(self, now: datetime) -> str:
        return (now + timedelta(seconds=self.ttl_s)).isoformat()

    def acquire(self) -> None:
        key = lease_key(self.run_id)
        if not self.store.put_if_absent(key, self.lease.to_json()):
            got = read_lease(self.store, self.run_id)  # a resumed run with the same id
            if got is None or not got[0].expired():
                raise LeaseLost(f"run {self.run_id} already holds a live lease on this lake")
            if not self.store.put_if_version(key, self.lease.to_json(), got[1]):
                raise LeaseLost(f"run {self.run_id}: lease taken while acquiring it")
        stored = self.store.get_versioned(key)
        self._version = stored[1] if stored else None

    def renew(self) -> bool:
        """One heartbeat; False (and ``lost`` set) when the lease is no longer ours."""
        if self._version is None or self.lost:
            return False
        now = _now()
        renewed = replace(self.lease, heartbeat_at=now.isoformat(), expires_at=self._expiry(now))
        key = lease_key(self.run_id)
        if not self.store.put_if_version(key, renewed.to_json(), self._version):
            self.lost = f"run {self.run_id} lost its lease on {self.store.root_uri}"
            log.error(self.lost)
            return False
        got = self.store.get_versioned(key)
        self.lease, self._version = renewed, (got[1] if got else None)
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.renew():
                    return
            except OcrPipelineError as e:  # an outage: try again next beat
                log.warning("lease heartbeat failed: %s", e)

    def stop_renewing(self) -> None:
        """Stop the heartbeat and leave the lease to expire (when releasing is impossible)."""
        self._stop.set()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._version is not None and not self.lost:
            self.store.delete_if_version(lease_key(self.run_id), self._version)

    def __enter__(self) -> RunLease:
        self.acquire()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.run_id[:8]}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
