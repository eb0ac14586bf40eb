"""The environment of a Dask worker process that runs OCR batches, wherever it is started.

One owner for what a local cluster's workers (``flows.runtime``), the images' ``dask worker``
(``infra/docker/Dockerfile``, kept equal by a test) and the benchmark's standing cluster all
get, so that what is measured is what runs.
"""

from __future__ import annotations

from typing import Any

# One intra-op thread per worker process: measured faster overall than threads on 2 cores,
# and it keeps BLAS/OpenMP pools from oversubscribing when several workers share a host.
# OpenCV's own pool (pthreads in the wheels) ignores OMP_NUM_THREADS and starts one thread
# per CPU the process may use: two workers on two CPUs each spread their resizes, warps and
# contour passes over both, into the other worker's CPU.
WORKER_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "OPENCV_FOR_THREADS_NUM": "1"}
# glibc's allocator, read once at the process's start. Dask's nanny sets
# MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap threshold at 128 KiB: every
# page's image and tensor buffers (1-30 MiB) are then mapped fresh and faulted in, page by
# page, on every call (30 times the minor faults, +3-5 % CPU per page against glibc's
# default, measured side by side on one CPU). These keep buffers under 32 MiB on the heap
# for reuse and still hand back a heap whose free top passes 64 MiB (glibc's own dynamic
# ceiling, made fixed): the same CPU as the default, for more peak RSS per worker than
# Dask's setting (+50-70 MB in a 32-page engine loop, ~+230 MB in a 120-page flow's worker).
# The nanny takes the environment's value over its own: MALLOC_TRIM_THRESHOLD_=65536 there
# brings Dask's back.
WORKER_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
                     "MALLOC_TRIM_THRESHOLD_": str(64 * 2**20)}
# Dask's defaults sample every worker thread's stack 100 times a second (the dashboard's
# profile page) and tick every event loop each 20 ms: 5 % of a worker's CPU beside a busy OCR
# task on this project's pages, against under 1 % without the sampler and with a 1 s tick
# (bench/dask_worker_overhead.py). Production images set the same (``dask_env``).
WORKER_DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
}
# What one OCR worker process may hold before its nanny restarts it (a worker peaks near
# 1.2 GB on 200-dpi pages; the margin is for large scans and PDF renders).
WORKER_MEMORY_LIMIT = "6GiB"


def dask_env_name(key: str) -> str:
    """The environment variable Dask reads at import for a setting (``DASK_A__B_C``)."""
    return "DASK_" + key.upper().replace(".", "__").replace("-", "_")


def dask_env(config: dict[str, Any]) -> dict[str, str]:
    """Dask settings as environment variables, for processes started outside this one: the
    images' ``dask worker`` and scheduler."""
    return {dask_env_name(key): str(value) for key, value in config.items()}


def worker_os_env() -> dict[str, str]:
    """What a worker process must find in its environment when it starts (threads, the
    allocator); a local cluster's nannies pass their own process's on to theirs."""
    return {**WORKER_THREAD_ENV, **WORKER_MALLOC_ENV}


def worker_process_env() -> dict[str, str]:
    """What a ``dask worker`` process started from a shell needs in its environment."""
    return {**worker_os_env(), **dask_env(WORKER_DASK_CONFIG)}
