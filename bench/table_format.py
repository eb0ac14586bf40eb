"""Our commit log against Delta Lake (delta-rs) for the lake's write pattern, in one run.

The pattern: every batch appends rows to seven tables and must appear atomically in all of
them. Delta Lake commits per table, so a batch is seven commits (and a crash between them
leaves a batch visible in some tables only); ours is one commit for all seven. Measured:
append N batches, then open the state a run needs (Delta: load each table's log; ours:
snapshot + manifest), before and after a checkpoint. Needs ``pip install deltalake`` (not a
project dependency): ``.venv/bin/python bench/table_format.py --batches 300``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr_tasks.lake.maintenance import checkpoint  # noqa: E402
from ocr_tasks.lake.manifest import load_manifest  # noqa: E402
from ocr_tasks.lake.rows import BatchContext, as_dicts, page_rows  # noqa: E402
from ocr_tasks.lake.schema import SCHEMAS, TABLES, rows_to_table  # noqa: E402
from ocr_tasks.lake.tables import Lake  # noqa: E402
from tests.unit.test_lake import doc_row, sample_page  # noqa: E402

DOCS_PER_BATCH = 20


def batch(b: int) -> tuple[BatchContext, dict[str, list[dict]]]:
    ctx = BatchContext("run-bench", f"rrunbench-b{b:06d}", "2026-11-28", "v1")
    rows: dict[str, list[dict]] = {t: [] for t in TABLES if t != "runs"}
    for d in range(DOCS_PER_BATCH):
        doc = f"doc{b}-{d}"
        rows["documents"].append(doc_row(doc, ctx, source_uri=f"/src/{doc}.png", pages=1,
                                         page_end=1))
        for name, r in page_rows(doc, sample_page(0), ctx, review_confidence=0.8).items():
            rows[name].extend(as_dicts(r))
    return ctx, rows


def ours(root: Path, n: int) -> dict[str, float]:
    lake = Lake.open(str(root))
    lake.log.margin_s = 0
    t0 = time.perf_counter()
    for b in range(n):
        lake.write_batch(*batch(b))
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_manifest(lake)
    open_raw = time.perf_counter() - t0
    checkpoint(lake)
    t0 = time.perf_counter()
    load_manifest(lake)
    open_cp = time.perf_counter() - t0
    return {"write_s": write, "open_s": open_raw, "open_after_checkpoint_s": open_cp}


def delta(root: Path, n: int) -> dict[str, float]:
    from deltalake import DeltaTable, write_deltalake

    t0 = time.perf_counter()
    for b in range(n):
        _, rows = batch(b)
        for name, r in rows.items():
            table = rows_to_table(name, r) if r else pa.Table.from_pylist([], SCHEMAS[name])
            write_deltalake(str(root / name), table, mode="append")
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    DeltaTable(str(root / "documents")).to_pyarrow_table(
        columns=["doc_id", "source_uri", "bytes", "status"])
    open_raw = time.perf_counter() - t0
    for name in rows:
        DeltaTable(str(root / name)).create_checkpoint()
    t0 = time.perf_counter()
    DeltaTable(str(root / "documents")).to_pyarrow_table(
        columns=["doc_id", "source_uri", "bytes", "status"])
    open_cp = time.perf_counter() - t0
    return {"write_s": write, "open_s": open_raw, "open_after_checkpoint_s": open_cp}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a = ours(Path(tmp) / "ours", args.batches)
        b = delta(Path(tmp) / "delta", args.batches)
    print(f"{args.batches} batches x 7 tables, {DOCS_PER_BATCH} one-page documents each")
    print(f"{'':28}{'ours':>10}{'delta-rs':>10}")
    for key in a:
        print(f"{key:28}{a[key]:10.2f}{b[key]:10.2f}")
    print(f"{'commits':28}{args.batches:10d}{args.batches * 6:10d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
