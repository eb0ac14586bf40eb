"""Document claims: which run owns a document's content, so no two runs OCR it.

A claim is ``_claims/<aa>/<doc_id>.json``, created with a conditional put (if absent) by the
first run that plans the content and kept for good: it is also the lake's index of known
content (a renamed copy finds its claim and becomes a ``duplicate``), read per new document,
never loaded whole. Its ``state`` is ``claimed`` while its run works on it and ``done`` once
every page range is committed (or the document failed for good).

A claim held by a run whose lease expired is taken over with a compare-and-swap on the
claim's version, so of two runs noticing the same dead run only one wins.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import Enum

from ocr_tasks.io.storage import ObjectStore
from ocr_tasks.lake.leases import Lease, read_lease

CLAIMS = "_claims"


def claim_key(doc_id: str) -> str:
    return f"{CLAIMS}/{doc_id[:2]}/{doc_id}.json"


@dataclass(frozen=True)
class Claim:
    doc_id: str
    run_id: str
    source_uri: str
    state: str  # "claimed" | "done"
    claimed_at: str
    previous_runs: tuple[str, ...] = ()  # owners that died holding it, oldest first
    version: str = ""  # size and etag/mtime of the object claimed: the same object, unchanged?

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Claim:
        raw = json.loads(data)
        raw["previous_runs"] = tuple(raw.get("previous_runs", ()))
        return cls(**raw)

    def is_object(self, source_uri: str, version: str) -> bool:
        """Claimed for exactly this source object version (so its claimant accounts for it)."""
        return self.source_uri == source_uri and self.version == version


class Outcome(Enum):
    """What planning does with a probed document after asking for its claim."""

    OURS = "ours"  # new content, or a dead run's that we took over: OCR its missing pages
    DONE = "done"  # the lake already holds this content: a duplicate (or the same object)
    ELSEWHERE = "elsewhere"  # a live run owns it: that run accounts for it


@dataclass(frozen=True)
class ClaimResult:
    outcome: Outcome
    claim: Claim
    owner: Lease | None = None  # the live owner, for ELSEWHERE
    taken_over: bool = False


class Claims:
    """Claims of one lake, on behalf of one run. Costs per new document: one conditional put
    to claim it, one read and one conditional put to close it; nothing is kept in memory."""

    def __init__(self, store: ObjectStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def acquire(self, doc_id: str, source_uri: str, version: str = "") -> ClaimResult:
        """Claim the content, or say who has it. Takes over claims of dead runs."""
        key = claim_key(doc_id)
        mine = Claim(doc_id, self.run_id, source_uri, "claimed", datetime.now(UTC).isoformat(),
                     version=version)
        for _ in range(5):  # bounded: each round either decides or lost a race to a decider
            if self.store.put_if_absent(key, mine.to_json()):
                return ClaimResult(Outcome.OURS, mine)
            got = self.store.get_versioned(key)
            if got is None:
                continue  # deleted in between (only by hand): try to create again
            claim, version = Claim.from_json(got[0]), got[1]
            if claim.run_id == self.run_id:
                return ClaimResult(Outcome.DONE if claim.state == "done" else Outcome.OURS, claim)
            if claim.state == "done":
                return ClaimResult(Outcome.DONE, claim)
            owner = read_lease(self.store, claim.run_id)
            if owner is not None and not owner[0].expired():
                return ClaimResult(Outcome.ELSEWHERE, claim, owner[0])
            taken = replace(mine, previous_runs=(*claim.previous_runs, claim.run_id))
            if self.store.put_if_version(key, taken.to_json(), version):
                return ClaimResult(Outcome.OURS, taken, taken_over=True)
        raise RuntimeError(f"claim of {doc_id} kept changing under us")

    def mark_done(self, doc_id: str) -> bool:
        """Our document is complete; False if another run took it over meanwhile."""
        key = claim_key(doc_id)
        got = self.store.get_versioned(key)
        if got is None:
            return False
        claim = Claim.from_json(got[0])
        if claim.run_id != self.run_id:
            return False
        if claim.state == "done":
            return True
        return self.store.put_if_version(key, replace(claim, state="done").to_json(), got[1])
