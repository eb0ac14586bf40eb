"""Backfill of >= 1,000 small pages, killed mid-run and resumed: throughput, memory, invariants.

    .venv/bin/python bench/backfill_resume.py [--pages 1000] [--workers 2] [--kill-after 4]

Builds an archive of small scanned pages (single-page PNGs and 4-page PDFs) in a temp dir,
starts ``ocr-pipeline backfill`` as a subprocess, kills its whole process group (CLI, Dask
workers, local Prefect API) with SIGKILL once ``--kill-after`` batches are committed, runs
the same command again, then checks the lake: every document once, every page once, verify
clean. Prints pages/s of each run and the peak RSS of the process tree and of one worker.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_archive(folder: Path, pages: int) -> int:
    """Half the pages as single-page PNGs, the rest in 4-page PDFs; returns the page count."""
    import matplotlib

    font = ImageFont.truetype(
        os.path.join(matplotlib.get_data_path(), "fonts/ttf/DejaVuSans.ttf"), 22
    )

    def page(n: int) -> Image.Image:
        image = Image.new("L", (800, 260), 255)
        draw = ImageDraw.Draw(image)
        draw.text((40, 50), f"Claim CLM-2026-{n:06d}", font=font, fill=0)
        draw.text((40, 130), f"Insured amount EUR {n * 37 % 100000:,}.00", font=font, fill=0)
        return image

    made, n = 0, 0
    while made < pages:
        if n % 2 == 0:
            page(made).save(folder / f"scan_{n:05d}.png", dpi=(150, 150))
            made += 1
        else:
            images = [page(made + k) for k in range(4)]
            images[0].save(folder / f"bundle_{n:05d}.pdf", save_all=True, append_images=images[1:],
                           resolution=150)
            made += 4
        n += 1
    return made


class TreeMemory(threading.Thread):
    """Samples RSS of a process tree: the total and the largest single process."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.total_peak, self.process_peak = pid, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                rss = [p.memory_info().rss for p in procs if p.is_running()]
                self.total_peak = max(self.total_peak, sum(rss))
                self.process_peak = max(self.process_peak, max(rss, default=0))
            except psutil.Error:
                pass
            self.stop.wait(0.5)


def commits(lake: Path) -> int:
    """Committed batches: entries of the lake's commit log."""
    folder = lake / "_log"
    return len(list(folder.rglob("*.json"))) if folder.exists() else 0


def run(cmd: list[str], lake: Path, kill_after: int | None) -> tuple[float, TreeMemory, bool]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    memory = TreeMemory(proc.pid)
    memory.start()
    killed = False
    while proc.poll() is None:
        if kill_after is not None and commits(lake) >= kill_after:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    proc.wait()
    memory.stop.set()
    return time.perf_counter() - started, memory, killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-pages", type=int, default=50)
    parser.add_argument(
        "--kill-after", type=int, default=4, help="committed batches before SIGKILL"
    )
    args = parser.parse_args()

    from ocr_tasks.io.storage import open_store
    from ocr_tasks.lake.tables import Lake
    from ocr_tasks.lake.verify import verify_lake

    with tempfile.TemporaryDirectory(prefix="ocr-backfill-") as tmp:
        source, lake = Path(tmp) / "source", Path(tmp) / "lake"
        source.mkdir()
        pages = make_archive(source, args.pages)
        documents = len(list(source.iterdir()))
        print(f"archive: {documents} documents, {pages} pages in {source}")
        cmd = [
            str(ROOT / ".venv/bin/ocr-pipeline"),
            "backfill",
            str(source),
            "--lake",
            str(lake),
            "--workers",
            str(args.workers),
            "--batch-pages",
            str(args.batch_pages),
            "--no-progress",
        ]
        env_note = (
            "OCR_LEASE_TTL_S=15: the resumed run takes over the killed run's documents "
            "and sweeps its partial files once its lease has expired"
        )
        os.environ["OCR_LEASE_TTL_S"] = "15"
        os.environ["OCR_LEASE_HEARTBEAT_S"] = "5"

        first_s, first_mem, killed = run(cmd, lake, args.kill_after)
        done_first = len(Lake.open(str(lake)).read_table("pages", columns=["doc_id"]))
        print(
            f"run 1: killed={killed} after {first_s:.1f} s with {commits(lake)} batches committed, "
            f"{done_first} pages in the lake"
        )
        second_s, second_mem, _ = run(cmd, lake, None)

        table = Lake.open(str(lake))
        page_rows = table.read_table("pages", columns=["doc_id", "page"]).to_pylist()
        unique = {(r["doc_id"], r["page"]) for r in page_rows}
        docs = table.read_table("documents", columns=["source_uri", "status"]).to_pylist()
        report = verify_lake(table, open_store(str(source)))
        resumed = len(page_rows) - done_first
        print(f"run 2: {second_s:.1f} s for the remaining {resumed} pages "
              f"({resumed / second_s:.2f} pages/s end to end, startup included)")
        print(f"pages rows: {len(page_rows)} (unique {len(unique)}, expected {pages}); "
              f"documents: {len({d['source_uri'] for d in docs})} of {documents}")
        print(f"verify: {'OK' if report.ok else report.describe()}")
        for name, mem in (("run 1", first_mem), ("run 2", second_mem)):
            print(f"{name} peak RSS: process tree {mem.total_peak / 2**20:.0f} MiB, "
                  f"largest process {mem.process_peak / 2**20:.0f} MiB")
        print(f"({env_note})")
        return 0 if report.ok and len(page_rows) == len(unique) == pages else 1


if __name__ == "__main__":
    sys.exit(main())
