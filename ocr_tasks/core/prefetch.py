"""A bounded prefetch queue: produce items on a background thread while the caller consumes.

On a GPU worker, rasterizing the next pages (CPU) overlaps the engine's work on the current
ones (GPU). The queue is bounded, so at most ``depth`` items wait in memory (pages are tens
of MB each); order is kept, and an exception in the producer is raised in the consumer at
the point where the item would have come.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int) -> Iterator[T]:
    """Iterate ``items`` with up to ``depth`` of them produced ahead on a thread; ``depth``
    0 iterates in the caller's thread (no overlap, nothing ahead). Closing the returned
    iterator early stops the producer at its next item."""
    if depth <= 0:
        yield from items
        return
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(_Failed(e))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            value = slots.get()
            if value is _DONE:
                return
            if isinstance(value, _Failed):
                raise value.error
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
