"""Planning: deterministic batches of pages, segments, resume of missing ranges, backpressure."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed as futures_as_completed
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocr_tasks.lake.manifest import missing_ranges
from ocr_tasks.lake.sources import SourceRef, is_document_key
from ocr_tasks.pipeline.discovery import DUPLICATE, Probe
from ocr_tasks.pipeline.job import (
    IngestRequest,
    abandon_run,
    bounded,
    chunked,
    claim,
    guided_batch_pages,
    start_run,
)
from ocr_tasks.pipeline.planning import plan_batches, segments

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def probe(name: str, pages: int, doc_id: str | None = None, error: str | None = None) -> Probe:
    ref = SourceRef(name, f"/src/{name}", 100, T0)
    return Probe(ref, doc_id or f"id-{name}", "pdf", pages, error, "boom" if error else None)


def plan(probes: list[Probe], batch_pages: int = 10, **kw):  # noqa: ANN202
    return list(plan_batches(probes, batch_pages=batch_pages, run_id="r", ingest_date="2026-01-01",
                             source_uri="/src", lake_uri="/lake", **kw))


def test_batches_respect_page_budget_and_cover_every_page_once() -> None:
    probes = [probe(f"d{i}.pdf", pages) for i, pages in enumerate([3, 7, 25, 1, 9, 4])]
    batches = plan(probes, batch_pages=10)
    assert all(b.pages <= 10 for b in batches)
    covered = sorted((i.probe.doc_id, p) for b in batches for i in b.items
                     for p in range(i.page_start, i.page_end))
    expected = sorted((p.doc_id, k) for p in probes for k in range(p.pages))
    assert covered == expected


def test_large_document_is_split_into_segments() -> None:
    items = list(segments(probe("big.pdf", 25), 10))
    assert [(i.page_start, i.page_end) for i in items] == [(0, 10), (10, 20), (20, 25)]


def test_batch_ids_are_deterministic_and_content_addressed() -> None:
    probes = [probe(f"d{i}.pdf", 4) for i in range(6)]
    first, again = plan(probes), plan(list(probes))
    assert [b.batch_id for b in first] == [b.batch_id for b in again]
    other = plan([probe("d0.pdf", 4, doc_id="changed")] + probes[1:])
    assert first[0].batch_id != other[0].batch_id
    assert len({b.batch_id for b in first}) == len(first)


def test_failed_probe_still_gets_a_work_item() -> None:
    batches = plan([probe("ok.pdf", 2), probe("bad.pdf", 0, error="corrupt")])
    items = [i for b in batches for i in b.items]
    assert [i.probe.ref.key for i in items] == ["ok.pdf", "bad.pdf"]
    assert items[1].pages == 0


def test_resume_plans_only_missing_ranges() -> None:
    p = probe("big.pdf", 30)
    batches = plan([p], batch_pages=10, missing=lambda _: [(10, 20), (25, 30)])
    spans = [(i.page_start, i.page_end) for b in batches for i in b.items]
    assert spans == [(10, 20), (25, 30)]


@pytest.mark.parametrize(
    ("covered", "pages", "expected"),
    [
        ([], 5, [(0, 5)]),
        ([(0, 5)], 5, []),
        ([(0, 2), (4, 5)], 5, [(2, 4)]),
        ([(3, 6), (0, 3)], 10, [(6, 10)]),
        ([(0, 10), (0, 10)], 10, []),
    ],
)
def test_missing_ranges(
    covered: list[tuple[int, int]], pages: int, expected: list[tuple[int, int]]
) -> None:
    assert missing_ranges(covered, pages) == expected


def test_claiming_marks_known_and_repeated_content(tmp_path: Path) -> None:
    """Content the lake holds, or this run already claimed, becomes a duplicate row."""
    (tmp_path / "src").mkdir()
    lake_uri = str(tmp_path / "lake")
    other = start_run(IngestRequest(str(tmp_path / "src"), lake_uri), run_id="run-other")
    known = probe("old.pdf", 1, doc_id="known")
    assert [p.ref.key for p in claim(other, [known])] == ["old.pdf"]
    assert other.claims is not None and other.claims.mark_done("known")  # its pages committed
    abandon_run(other)
    state = start_run(IngestRequest(str(tmp_path / "src"), lake_uri), run_id="run-mine")
    probes = [probe("a.pdf", 1, doc_id="x"), probe("b.pdf", 1, doc_id="x"),
              probe("c.pdf", 1, doc_id="known"), probe("d.pdf", 0, error="corrupt")]
    out = claim(state, probes)
    assert [(p.ref.key, p.error_kind) for p in out] == [
        ("a.pdf", None), ("b.pdf", DUPLICATE), ("c.pdf", DUPLICATE), ("d.pdf", "corrupt")]
    assert out[1].pages == 0
    abandon_run(state)


def test_a_small_drop_cut_for_many_workers_pays_for_its_share_of_canaries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 pages in 8 batches (8 workers busy) carry 2 canaries between them, as one
    production batch of 64 pages would, not one each."""
    from ocr_tasks.pipeline.job import plan_wave

    monkeypatch.setenv("OCR_CANARY_PAGES", "2")  # the defaults, whatever other tests set
    monkeypatch.setenv("OCR_CANARY_EVERY_PAGES", "32")
    (tmp_path / "src").mkdir()
    request = IngestRequest(str(tmp_path / "src"), str(tmp_path / "lake"), batch_pages=64,
                            max_in_flight=8)
    state = start_run(request, run_id="run-small")
    try:
        specs = plan_wave(state, [probe(f"d{i}.pdf", 8) for i in range(8)])
    finally:
        abandon_run(state)
    assert [s.pages for s in specs] == [8] * 8
    assert sorted(s.canaries or 0 for s in specs) == [0] * 6 + [1, 1]


def test_sidecars_are_not_documents() -> None:
    assert is_document_key("a/claim.pdf")
    assert not is_document_key("a/claim.gt.txt")
    assert not is_document_key("a/claim.gt.json")
    assert not is_document_key("a/.hidden")


def test_bounded_keeps_at_most_limit_in_flight_and_yields_all() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def work(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        threading.Event().wait(0.01)
        with lock:
            running -= 1
        return x * x

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = list(bounded(range(20), lambda x: pool.submit(work, x), futures_as_completed, 3))
    assert sorted(item for item, _ in done) == list(range(20))
    assert all(f.result() == i * i for i, f in done)
    assert peak <= 3


def test_chunked() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize(("remaining", "configured", "slots", "expected"), [
    (13, 64, 8, 8),        # small drop: floor, so two workers share it
    (10_000, 64, 8, 64),   # backfill wave: the configured size
    (200, 64, 8, 13),      # in between: half of it spread evenly over the slots
    (3, 2, 8, 2),          # never above the configured size
    (120, 66, 1, 66),      # one slot: no tail to balance, the configured size
])
def test_guided_batch_pages(remaining: int, configured: int, slots: int, expected: int) -> None:
    assert guided_batch_pages(remaining, configured, slots) == expected


def guided(total: int, configured: int, slots: int):  # noqa: ANN201
    return lambda planned: guided_batch_pages(total - planned, configured, slots)


def test_a_waves_batches_shrink_towards_its_end_and_cover_every_page_once() -> None:
    probes = [probe(f"d{i}.pdf", 1) for i in range(120)]
    sizes = [b.pages for b in plan(probes, batch_pages=guided(120, 66, 2))]
    assert sizes == [30, 23, 17, 13, 10, 8, 8, 8, 3]
    assert [b.pages for b in plan(probes, batch_pages=guided(120, 66, 1))] == [66, 54]
    docs = [i.probe.doc_id for b in plan(probes, batch_pages=guided(120, 66, 2))
            for i in b.items]
    assert sorted(docs) == sorted(p.doc_id for p in probes)


def test_a_long_document_at_a_waves_end_is_cut_at_the_shrinking_size() -> None:
    batches = plan([probe("a.pdf", 50), probe("big.pdf", 100)], batch_pages=guided(150, 64, 2))
    assert [[(i.probe.ref.key, i.page_start, i.page_end) for i in b.items] for b in batches] == [
        [("a.pdf", 0, 38)], [("a.pdf", 38, 50)], [("big.pdf", 0, 25)], [("big.pdf", 25, 44)],
        [("big.pdf", 44, 58)], [("big.pdf", 58, 69)], [("big.pdf", 69, 77)],
        [("big.pdf", 77, 85)], [("big.pdf", 85, 93)], [("big.pdf", 93, 100)]]


def makespan(sizes: list[int], seconds_per_page: list[float]) -> float:
    """When the last of the workers ends, each taking the next batch in plan order as it
    frees (as ``bounded`` submits them, one slot per worker)."""
    free = [0.0] * len(seconds_per_page)
    for pages in sizes:
        w = min(range(len(free)), key=lambda k: free[k])
        free[w] += pages * seconds_per_page[w]
    return max(free)


def test_guided_batches_let_a_slower_worker_take_fewer_pages() -> None:
    """Two workers, one 12 % slower (a noisy CPU, denser pages): two even batches end when
    the slow one does; the guided wave ends near the even split of the work."""
    probes = [probe(f"d{i}.pdf", 1) for i in range(120)]
    speeds = [1.1, 1.232]
    ideal = 120 / sum(1 / s for s in speeds)
    even = makespan([b.pages for b in plan(probes, batch_pages=60)], speeds)
    guided_end = makespan([b.pages for b in plan(probes, batch_pages=guided(120, 66, 2))],
                          speeds)
    assert even / ideal > 1.05
    assert guided_end / ideal < 1.03
    speeds.reverse()  # the slower worker takes the first batch: the tail still balances it
    assert makespan([b.pages for b in plan(probes, batch_pages=guided(120, 66, 2))],
                    speeds) / ideal < 1.05


def test_a_document_failing_in_max_attempts_runs_gets_a_final_error(tmp_path: Path) -> None:
    """A batch that crashes every time must not be retried forever: after OCR_MAX_ATTEMPTS
    runs its documents get a final ``gave_up`` error instead of another try."""
    from ocr_tasks.lake.rows import BatchContext, DocumentRow, ErrorRow
    from ocr_tasks.lake.tables import Lake

    (tmp_path / "src").mkdir()
    lake_uri = str(tmp_path / "lake")
    crashing = Probe(SourceRef("crash.pdf", str(tmp_path / "src/crash.pdf"), 100, T0), "c",
                     "pdf", 2)
    lake = Lake.open(lake_uri)
    for run in range(3):
        ctx = BatchContext(f"run-{run}", f"rrun{run}-b1-failed", "2026-01-01", "")
        ref = crashing.ref
        lake.write_batch(ctx, {
            "documents": [DocumentRow("c", ref.uri, ref.size, 2, 0, 2, "error", "pdf", ref.mtime,
                                      None, ctx.run_id, ctx.batch_id, "", T0)],
            "errors": [ErrorRow("c", ref.uri, None, "batch_failed", "boom", True, ctx.run_id,
                                ctx.batch_id, T0)],
        })
        state = start_run(IngestRequest(str(tmp_path / "src"), lake_uri), run_id=f"run-x{run}")
        [planned] = claim(state, [crashing])
        abandon_run(state)
        assert (planned.error_kind == "gave_up") is (run == 2), run
    assert not planned.retryable and "failed in 3 runs" in (planned.error_message or "")
