"""What glibc's allocator settings cost an OCR worker: engine processes side by side on one
CPU, each started with one setting (glibc's default, Dask's nanny's, the project's
``core.worker_env.WORKER_MALLOC_ENV``), all OCRing the same generated 200-dpi pages at the
same time. The kernel shares the CPU between them every few milliseconds, so the host's
drift falls on all alike; each reports its CPU seconds per page and peak RSS::

    .venv/bin/python bench/worker_allocator.py               # 32 pages, 2 rounds
    .venv/bin/python bench/worker_allocator.py --pages 16 --rounds 3
    .venv/bin/python bench/worker_allocator.py --mmap-mib 4,8,16   # ours at lower thresholds

``--mmap-mib`` adds variants of ours with a lower mmap threshold (the trim threshold kept):
buffers above it are mapped fresh and faulted in on every call again, which trades CPU for
the memory a worker keeps between pages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MALLOC_KEYS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


@contextlib.contextmanager
def allocator_env(settings: dict[str, str]) -> Iterator[None]:
    """This process's environment with only ``settings`` of the allocator's variables, for
    the engine process started inside (spawn copies it at the start)."""
    saved = {key: os.environ.pop(key) for key in MALLOC_KEYS if key in os.environ}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key in MALLOC_KEYS:
            os.environ.pop(key, None)
        os.environ.update(saved)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ocr-bench"))
    ap.add_argument("--json", type=Path, help="write the runs as JSON here")
    ap.add_argument("--mmap-mib", default="",
                    help="comma-separated mmap thresholds in MiB: ours with each of them too")
    args = ap.parse_args()
    from ocr_tasks.benchmark.pageset import make_synth_set, synth_docs
    from ocr_tasks.benchmark.systems import EngineSystem
    from ocr_tasks.core.config import EngineSettings
    from ocr_tasks.core.worker_env import WORKER_MALLOC_ENV, WORKER_THREAD_ENV

    variants = {"glibc default": {},
                "dask nanny": {"MALLOC_TRIM_THRESHOLD_": "65536"},
                "ours": WORKER_MALLOC_ENV}
    for mib in filter(None, args.mmap_mib.split(",")):
        variants[f"ours, mmap {int(mib)} MiB"] = {
            **WORKER_MALLOC_ENV, "MALLOC_MMAP_THRESHOLD_": str(int(mib) * 2**20)}
    folder = args.work / f"synth-{args.pages}-seed0-dpi200"
    make_synth_set(folder, args.pages, 0, (200,))
    docs = synth_docs(folder, 200)
    cpu = [min(os.sched_getaffinity(0))] if hasattr(os, "sched_getaffinity") else None
    os.environ.update(WORKER_THREAD_ENV)
    systems = {}
    for name, env in variants.items():
        with allocator_env(env):
            systems[name] = EngineSystem(name, EngineSettings(), docs[:2], cpu)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        for _ in range(args.rounds):
            futures = {name: system.submit(docs) for name, system in systems.items()}
            runs = {name: future.result() for name, future in futures.items()}
            rounds.append({name: {"cpu_s_per_page": r.cpu_s / max(1, r.pages),
                                  "peak_rss_mb": r.peak_rss_mb} for name, r in runs.items()})
    finally:
        for system in systems.values():
            system.close()
    width = max(len(name) for name in variants)
    print(f"{'allocator':<{width}} {'CPU s/page':>10} {'vs default':>10} {'peak RSS MB':>11}")
    out: dict[str, dict[str, float]] = {}
    base = sum(r["glibc default"]["cpu_s_per_page"] for r in rounds)
    for name in variants:
        cpu_s = sum(r[name]["cpu_s_per_page"] for r in rounds)
        rss = max(r[name]["peak_rss_mb"] for r in rounds)
        out[name] = {"cpu_s_per_page": cpu_s / len(rounds), "vs_default": cpu_s / base,
                     "peak_rss_mb": rss}
        print(f"{name:<{width}} {cpu_s / len(rounds):>10.3f} {cpu_s / base:>10.3f} "
              f"{rss:>11.0f}")
    if args.json:
        args.json.write_text(json.dumps({"variants": variants, "rounds": rounds, **out},
                                        indent=1))


if __name__ == "__main__":
    main()
