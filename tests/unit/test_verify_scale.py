"""verify at scale: hashed keys agree with the definitions, compacted files, the fast path."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ocr_tasks.io.storage import LocalStore
from ocr_tasks.lake import verify
from ocr_tasks.lake.maintenance import compact
from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.schema import SCHEMAS, rows_to_table
from ocr_tasks.lake.sources import fingerprint
from ocr_tasks.lake.tables import Lake, data_key
from ocr_tasks.lake.verify import verify_lake
from tests.unit.test_verify import DAY, commit, doc, error, page, row


def line(doc_id: str, index: int, batch: str, line_: int = 0) -> dict[str, Any]:
    return row("lines", doc_id=doc_id, page=index, line=line_, batch_id=batch, text="l")


def word(doc_id: str, index: int, batch: str, line_: int = 0, word_: int = 0) -> dict[str, Any]:
    return row("words", doc_id=doc_id, page=index, line=line_, word=word_, batch_id=batch,
               text="w")


def write(lake: Lake, batch: str, **tables: list[dict[str, Any]]) -> None:
    lake.write_batch(BatchContext("r1", batch, DAY, "m1"), tables)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(LocalStore(tmp_path / "lake"))
    lake.log.margin_s = 0.0
    return lake


def problems(lake: Lake) -> list[tuple[str, str, str]]:
    return sorted((p.kind, p.subject, p.detail) for p in verify_lake(lake).problems)


def test_fingerprint_keys_of_rows_match_listed_objects() -> None:
    stamps = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 1, 5, tzinfo=UTC),
              None, datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    cases = [("/s/a b.pdf", 10, None, stamps[0]), ("/s/ü.pdf", 0, "", stamps[1]),
             ("/s/c.pdf", None, "etag-1", stamps[2]), ("s3://b/x/" + "y" * 90, 7, None, stamps[3]),
             ("/s/e.pdf", 3, None, None)]
    table = rows_to_table("documents", [
        row("documents", doc_id="D", source_uri=u, bytes=b, source_etag=e, source_mtime=m,
            status="ok", batch_id="b1") for u, b, e, m in cases])
    buf = io.BytesIO()
    pq.write_table(table, buf)
    table = pq.read_table(io.BytesIO(buf.getvalue()))  # as verify reads it back
    keys = verify._fingerprint_keys(table["source_uri"], table["bytes"], table["source_etag"],
                                    table["source_mtime"])
    listed = verify._listed_keys([fingerprint(u, b or 0, e, m) for u, b, e, m in cases])
    assert list(keys) == list(listed)
    assert len(set(keys)) == len(cases)


def test_string_hashes_differ_by_every_byte_and_length() -> None:
    values = ["", "a", "a\0", "ab", "ba", "abcdefgh", "abcdefgh\0", "abcdefghi", "abcdefgi"]
    hashes = verify._hash_plain(pa.array(values), 1)
    assert len(set(hashes.tolist())) == len(values)
    sliced = pa.array(["zz", *values])[1:]  # an offset array hashes like a fresh one
    assert list(verify._hash_plain(sliced, 1)) == list(hashes)
    dictionary = pa.array(values * 2).dictionary_encode()
    assert list(verify._hash_strings(dictionary, 1)) == list(hashes) * 2


def test_lines_and_words_belong_to_a_page_of_their_batch(lake: Lake) -> None:
    write(lake, "b1", documents=[doc("/s/a.pdf", "A", "b1", 0, 2, 2)],
          pages=[page("A", 0, "b1"), page("A", 1, "b1")],
          lines=[line("A", 0, "b1"), line("A", 2, "b1"), line("A", 3, "b1")],
          words=[word("A", 1, "b1"), word("A", 7, "b1")])
    assert problems(lake) == [
        ("orphan_rows", "doc A in b1", "lines of pages 2..3 have no pages row in their batch"),
        ("orphan_rows", "doc A in b1", "words of pages 7 have no pages row in their batch"),
    ]


def test_lost_pages_file_is_one_problem_not_an_orphan_per_line(lake: Lake) -> None:
    write(lake, "b1", documents=[doc("/s/a.pdf", "A", "b1", 0, 1, 1)], pages=[page("A", 0, "b1")],
          lines=[line("A", 0, "b1")], words=[word("A", 0, "b1")])
    lake.store.delete(data_key("pages", DAY, "b1"))
    assert [k for k, _, _ in problems(lake)] == ["missing_file", "pages_unaccounted"]


def test_repeats_across_batches_and_compacted_files_are_counted(lake: Lake) -> None:
    for batch in ("b1", "b2"):
        write(lake, batch, documents=[doc("/s/a.pdf", "A", batch, 0, 1, 1)],
              pages=[page("A", 0, batch)], lines=[line("A", 0, batch)],
              words=[word("A", 0, batch), word("A", 0, batch, word_=1)])
    write(lake, "b3", documents=[doc("/s/c.pdf", "C", "b3", 0, 1, 1)],
          pages=[page("C", 0, "b3")], lines=[line("C", 0, "b3"), line("C", 0, "b3")])
    compact(lake, delete_after_s=3600)  # the small files stay until their grace ends
    assert problems(lake) == [
        ("duplicate_rows", "lines", "(doc_id=A, page=0, line=0) appears 2 times"),
        ("duplicate_rows", "lines", "(doc_id=C, page=0, line=0) appears 2 times"),
        ("duplicate_rows", "pages", "(doc_id=A, page=0) appears 2 times"),
        ("duplicate_rows", "words", "(doc_id=A, page=0, line=0, word=0) appears 2 times"),
        ("duplicate_rows", "words", "(doc_id=A, page=0, line=0, word=1) appears 2 times"),
        ("twice", "/s/a.pdf", "pages 0 committed more than once"),
    ]


def test_compacted_file_row_counts_sum_its_batches(lake: Lake) -> None:
    for n in range(3):
        commit(lake, f"b{n}", [doc(f"/s/{n}.pdf", f"D{n}", f"b{n}")], [page(f"D{n}", 0, f"b{n}")])
    compact(lake, delete_after_s=0)
    report = verify_lake(lake)
    assert report.ok and (report.processed, report.pages, report.batches) == (3, 3, 3)
    [key] = [i.key for i in lake.store.list("pages/") if "compact-" in i.key]
    table = pq.read_table(io.BytesIO(lake.store.get(key)))
    buf = io.BytesIO()
    pq.write_table(table.slice(0, 2), buf)
    lake.store.put(key, buf.getvalue())
    got = [(p.kind, p.detail.split(": ")[-1]) for p in verify_lake(lake).problems]
    assert ("row_count", "2 rows, commit says 3") in got


def random_lake(lake: Lake, rng: random.Random) -> None:
    """Batches of segments, whole-document outcomes and errors, with overlaps, gaps, retries,
    lost pages and repeats mixed in."""
    docs = [(f"D{n}", f"/s/{n}.pdf", rng.randint(0, 5)) for n in range(rng.randint(1, 10))]
    for b in range(rng.randint(1, 6)):
        batch = f"b{b}"
        tables: dict[str, list[dict[str, Any]]] = {"documents": [], "pages": [], "errors": []}
        for _ in range(rng.randint(0, 4)):
            doc_id, uri, pages = rng.choice(docs)
            status = rng.choice(["ok", "ok", "ok", "partial", "error", "duplicate"])
            start = rng.randint(0, pages)
            end = start if status == "duplicate" else rng.randint(start, pages)
            tables["documents"].append(doc(uri, doc_id, batch, start, end, pages, status))
            for p in range(start, end):
                if rng.random() < 0.85:
                    tables["pages"].append(page(doc_id, p, batch))
                elif rng.random() < 0.5:
                    tables["errors"].append(error(doc_id, batch, "too_large", p))
            if status == "error" or rng.random() < 0.1:
                tables["errors"].append(error(doc_id, batch, "storage",
                                             retryable=rng.random() < 0.6))
        write(lake, batch, **tables)


@pytest.mark.parametrize("seed", range(25))
def test_fast_path_agrees_with_the_per_document_rules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    lake = Lake(LocalStore(tmp_path / "lake"))
    random_lake(lake, random.Random(seed))

    def summary() -> tuple[Any, ...]:
        r = verify_lake(lake)
        return (r.documents, r.processed, r.errored, r.duplicates, r.pending_retry, r.pages,
                sorted((p.kind, p.subject, p.detail) for p in r.problems))

    fast = summary()
    for name in ("CLASSIFY_ROWS", "EXPAND_PAGES", "BATCH_ROWS"):  # many small steps
        monkeypatch.setattr(verify, name, 2)
    assert summary() == fast
    monkeypatch.setattr(verify, "FAST_PATH", False)
    assert summary() == fast


def test_columns_a_file_predates_read_as_nulls(lake: Lake) -> None:
    commit(lake, "b1", [doc("/s/a.pdf", "A", "b1", 0, 0, 0, status="error")],
           errors=[error("A", "b1", "storage", retryable=True)])
    key = data_key("errors", DAY, "b1")
    old = pq.read_table(io.BytesIO(lake.store.get(key))).drop_columns(["retryable"])
    buf = io.BytesIO()
    pq.write_table(old, buf)
    lake.store.put(key, buf.getvalue())
    report = verify_lake(lake)  # without the flag the error is final: a whole-document error
    assert report.ok and (report.errored, report.pending_retry) == (1, 0)
    assert set(SCHEMAS["errors"].names) - set(old.column_names) == {"retryable"}


def test_fingerprint_set_holds_digests_ending_in_zero_bytes() -> None:
    from ocr_tasks.lake.manifest import FingerprintSet, digest

    fps = [(f"/s/{n}.pdf", n, "") for n in range(3000)]
    ending_in_zero = [fp for fp in fps if digest(fp).endswith(b"\0")]
    assert ending_in_zero  # about 1 in 256
    done = FingerprintSet(digest(fp) for fp in fps)
    assert all(fp in done for fp in fps)
    assert ("/s/other.pdf", 1, "") not in done
