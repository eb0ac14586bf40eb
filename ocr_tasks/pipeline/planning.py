"""Pack probed documents into batches of pages: one Prefect task per batch, never per page.

Batches are deterministic functions of their content: the batch id hashes the work items,
so a batch that Dask or Prefect re-runs writes the same files under the same names and
replaces, rather than duplicates, what an earlier attempt wrote. Documents longer than a
batch are split into page segments ``[page_start, page_end)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ocr_tasks.lake.rows import run_tag
from ocr_tasks.pipeline.discovery import DUPLICATE, Probe


@dataclass(frozen=True)
class WorkItem:
    """One document segment (or one document that failed to probe) inside a batch."""

    probe: Probe
    page_start: int = 0
    page_end: int = 0

    @property
    def pages(self) -> int:
        return self.page_end - self.page_start

    @property
    def is_duplicate(self) -> bool:
        return self.probe.error_kind == DUPLICATE

    @property
    def cost(self) -> int:
        """Planning weight: pages, with a floor so error-only items still spread out."""
        return max(1, self.pages)


@dataclass(frozen=True)
class BatchSpec:
    """Everything a worker needs for one batch: only uris and ids, never credentials."""

    batch_id: str
    run_id: str
    ingest_date: str
    source_uri: str
    lake_uri: str
    items: tuple[WorkItem, ...]
    fenced: bool = False  # commit only while the run's lease is live (planned runs are)
    model: str = ""  # the run's resolved model version (engine.registry); "": the setting
    canaries: int | None = None  # allotted by the wave's plan; None: by its own size

    @property
    def pages(self) -> int:
        return sum(item.pages for item in self.items)

    @property
    def documents(self) -> int:
        return len({item.probe.doc_id for item in self.items})


def segments(
    probe: Probe, batch_pages: int | Callable[[], int],
    ranges: list[tuple[int, int]] | None = None,
) -> Iterator[WorkItem]:
    """Split a probed document (or only its ``ranges`` still missing) into work items of at
    most ``batch_pages`` pages (a callable: asked as each item is cut, for a planner whose
    batches change size)."""
    if probe.failed or probe.pages <= 0:
        yield WorkItem(probe, 0, 0)
        return
    size = batch_pages if callable(batch_pages) else (lambda: batch_pages)
    for first, last in ranges if ranges is not None else [(0, probe.pages)]:
        start = first
        while start < last:
            end = min(last, start + max(1, size()))
            yield WorkItem(probe, start, end)
            start = end


def batch_id_for(items: Iterable[WorkItem], run_id: str) -> str:
    """``<run tag>-b<hash of the items>``: stable across retries of the batch in its run, and
    prefixed by the run so a sweep finds a dead run's files by listing one prefix."""
    h = hashlib.sha256()
    for item in items:
        h.update(f"{item.probe.ref.uri}\0{item.probe.doc_id}\0{item.page_start}\0"
                 f"{item.page_end}\n".encode("utf-8", "surrogateescape"))
    return f"{run_tag(run_id)}-b{h.hexdigest()[:20]}"


def plan_batches(
    probes: Iterable[Probe],
    *,
    batch_pages: int | Callable[[int], int],
    run_id: str,
    ingest_date: str,
    source_uri: str,
    lake_uri: str,
    model: str = "",
    missing: Callable[[Probe], list[tuple[int, int]]] | None = None,
) -> Iterator[BatchSpec]:
    """Greedy packing in source order: streams, so a plan never holds the whole archive.

    ``batch_pages``: the pages of every batch, or of each batch as a function of the pages
    planned before it (a wave's batches shrink towards its end: ``job.guided_batch_pages``).
    ``missing`` returns the page ranges of a document still to do (resume after a crash);
    by default every page is.
    """
    size = batch_pages if callable(batch_pages) else (lambda _planned, n=batch_pages: n)
    if size(0) < 1:
        raise ValueError("batch_pages must be at least 1")
    current: list[WorkItem] = []
    cost = planned = 0
    cap = size(0)  # of the batch being filled

    def emit() -> BatchSpec:
        items = tuple(current)
        return BatchSpec(batch_id_for(items, run_id), run_id, ingest_date, source_uri, lake_uri,
                         items, fenced=True, model=model)

    def next_segment() -> int:
        """At most the size of the batch the segment starts where it does not fit the one
        being filled (documents are not cut to fill a batch)."""
        return size(planned + cost) if current else cap

    for probe in probes:
        ranges = missing(probe) if missing is not None and not probe.failed else None
        for item in segments(probe, next_segment, ranges):
            if current and cost + item.cost > cap:
                yield emit()
                planned += cost
                current, cost, cap = [], 0, size(planned)
            current.append(item)
            cost += item.cost
    if current:
        yield emit()
