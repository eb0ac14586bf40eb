"""What this host gives a second process, on work that is not ours: the ceiling of any
"2 workers against 1" figure measured here.

Each kind of work runs for a few seconds in one process alone on the first CPU, then in
one process on each of the first two CPUs at once; each reports the work it did per CPU
second. The ratio, two against one, is 2.0 on two free cores. Less means the two vCPUs
share something (a physical core, its cache or memory bandwidth, the hypervisor's time);
a ratio that moves from round to round means the host's speed moves under any benchmark.
It needs no engine, so it reads the host in a minute::

    .venv/bin/python bench/host_pair.py                  # 3 kinds, 2 rounds, 6 s each
    .venv/bin/python bench/host_pair.py --seconds 10 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import time
from multiprocessing import get_context
from pathlib import Path

KINDS = ("python loop", "float32 matmul 512", "memory copy 64 MiB")


def work_per_cpu_second(kind: str, cpu: int, seconds: float) -> float:
    """Units of ``kind`` done per CPU second of this process, pinned to ``cpu``."""
    os.sched_setaffinity(0, {cpu})
    import numpy as np

    a = np.random.rand(512, 512).astype(np.float32)
    src = np.random.rand(8 * 2**20)  # 64 MiB of float64
    dst = np.empty_like(src)
    done, wall, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        if kind == KINDS[0]:
            total = 0
            for i in range(200_000):
                total += i * i
        elif kind == KINDS[1]:
            a @ a
        else:
            np.copyto(dst, src)
        done += 1
    return done / (time.process_time() - cpu0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the rounds as JSON here")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("host_pair: this process may use fewer than 2 CPUs")
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[key] = "1"  # one thread each, as a worker has (spawn copies it)
    rounds: list[dict[str, float]] = []
    print(f"{'work':<20} {'round':>5} {'alone':>9} {'both':>17} {'2 vs 1':>7}")
    with get_context("spawn").Pool(2) as pool:
        for r in range(args.rounds):
            rounds.append({})
            for kind in KINDS:
                alone = pool.apply(work_per_cpu_second, (kind, cpus[0], args.seconds))
                both = [f.get() for f in [
                    pool.apply_async(work_per_cpu_second, (kind, cpu, args.seconds))
                    for cpu in cpus[:2]]]
                rounds[-1][kind] = ratio = sum(both) / alone
                print(f"{kind:<20} {r + 1:>5} {alone:>9.1f} {both[0]:>8.1f} {both[1]:>8.1f} "
                      f"{ratio:>6.3f}x")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
