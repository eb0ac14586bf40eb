"""What the lake already holds, as needed to plan the next run (resume, dedupe).

Built from committed ``documents`` rows only. A document is *done* when committed segments
cover all its pages, or when it failed with an error that retrying cannot fix. Retryable
failures (storage faults, batches that crashed) are not done: the next run tries again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ocr_tasks.lake.tables import Lake

FINAL_STATUSES = ("ok", "partial", "duplicate")


@dataclass
class Manifest:
    done_fingerprints: set[tuple[str, int, str]] = field(default_factory=set)
    done_doc_ids: set[str] = field(default_factory=set)
    covered: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def missing_ranges(self, doc_id: str, pages: int) -> list[tuple[int, int]]:
        """Page ranges of a document not yet committed (all of it when unknown)."""
        return missing_ranges(self.covered.get(doc_id, []), pages)


def missing_ranges(covered: list[tuple[int, int]], pages: int) -> list[tuple[int, int]]:
    gaps, cursor = [], 0
    for start, end in sorted(covered):
        if start > cursor:
            gaps.append((cursor, min(start, pages)))
        cursor = max(cursor, end)
    if cursor < pages:
        gaps.append((cursor, pages))
    return [(s, e) for s, e in gaps if e > s]


def load_manifest(lake: Lake) -> Manifest:
    docs = lake.known_documents().to_pylist()
    errors = lake.read_table("errors", columns=["doc_id", "batch_id", "retryable"]).to_pylist()
    retryable_batches = {(e["doc_id"], e["batch_id"]) for e in errors if e["retryable"]}

    manifest = Manifest()
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    total_pages: dict[str, int] = {}
    fingerprints: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    for row in docs:
        doc_id = row["doc_id"]
        etag_or_mtime = row["source_etag"] or (row["source_mtime"].isoformat() if row["source_mtime"] else "")
        fingerprint = (row["source_uri"], int(row["bytes"]), etag_or_mtime)
        status = row["status"]
        if status in FINAL_STATUSES:
            if status == "duplicate":
                manifest.done_fingerprints.add(fingerprint)
                continue
            covered[doc_id].append((int(row["page_start"]), int(row["page_end"])))
            total_pages[doc_id] = int(row["pages"] or 0)
            fingerprints[doc_id].add(fingerprint)
        elif (doc_id, row["batch_id"]) not in retryable_batches:
            manifest.done_fingerprints.add(fingerprint)  # failed for good: do not retry
            manifest.done_doc_ids.add(doc_id)
    for doc_id, ranges in covered.items():
        if not missing_ranges(ranges, total_pages[doc_id]):
            manifest.done_doc_ids.add(doc_id)
            manifest.done_fingerprints |= fingerprints[doc_id]
    manifest.covered = dict(covered)
    return manifest
