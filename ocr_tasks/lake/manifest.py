"""What the lake already holds, as needed to plan the next run (resume, dedupe).

Built from committed ``documents`` rows only. A document is *done* when committed segments
cover all its pages, or when it failed with an error that retrying cannot fix. Retryable
failures (storage faults, batches that crashed) are not done: the next run tries again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ocr_tasks.lake.sources import Fingerprint, fingerprint
from ocr_tasks.lake.tables import Lake

FINAL_STATUSES = ("ok", "partial", "duplicate")

def row_fingerprint(row: dict[str, Any]) -> Fingerprint:
    """The fingerprint of a ``documents`` row."""
    return fingerprint(row["source_uri"], row["bytes"], row["source_etag"], row["source_mtime"])


@dataclass
class Manifest:
    done_fingerprints: set[Fingerprint] = field(default_factory=set)
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
    fingerprints: dict[str, set[Fingerprint]] = defaultdict(set)
    for row in docs:
        doc_id = row["doc_id"]
        fp = row_fingerprint(row)
        status = row["status"]
        if status in FINAL_STATUSES:
            if status == "duplicate":
                manifest.done_fingerprints.add(fp)
                continue
            covered[doc_id].append((int(row["page_start"]), int(row["page_end"])))
            total_pages[doc_id] = int(row["pages"] or 0)
            fingerprints[doc_id].add(fp)
        elif (doc_id, row["batch_id"]) not in retryable_batches:
            manifest.done_fingerprints.add(fp)  # failed for good: do not retry
            manifest.done_doc_ids.add(doc_id)
    for doc_id, ranges in covered.items():
        if not missing_ranges(ranges, total_pages[doc_id]):
            manifest.done_doc_ids.add(doc_id)
            manifest.done_fingerprints |= fingerprints[doc_id]
    manifest.covered = dict(covered)
    return manifest
