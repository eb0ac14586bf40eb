"""The one parallel map for latency-bound reads of many small objects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Reads of many small objects (commit records, batch files) are latency-bound on S3.
READ_THREADS = 16


def parallel_map(fn: Callable[[T], R], items: Sequence[T], threads: int = READ_THREADS) -> list[R]:
    """``[fn(x) for x in items]`` in order, over a few threads when there are many."""
    if len(items) < 4:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(fn, items))
