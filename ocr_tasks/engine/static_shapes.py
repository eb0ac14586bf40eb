"""Fixed-shape compilations of a network, one per input shape a worker keeps seeing.

OpenVINO runs a network compiled for one input shape faster than the same network compiled
for any shape: the detector on a 1344x1024 input (a FUNSD scan after upscaling) took 0.236
against 0.274 CPU s (bf16, one thread), and the any-size model keeps memory for every shape
it ran (121 MB after loading, 796 MB after five page sizes) where a fixed-shape one holds
its own. Measured against the any-size detector, interleaved in one process, accuracy
within 0.0006 (bf16 kernels round differently):
- FUNSD, 149 pages, four detector shapes: the tiny engine 0.64 against 0.71 CPU s/page
  (-7.5 to -10 %), the bundled one -4 %; peak RSS 916 against 830-897 MB;
- generated 200-dpi A4 pages, one shape: the tiny engine -8 %, the bundled one -2 to -6 %;
  peak RSS 806 against 1052 MB.

A compilation costs about one detection of CPU (0.25 s at that size), so at most
``capacity`` are kept and one is replaced only when it has gone unused for ``idle_calls``
calls: pages of one scan job share their size and a worker settles on a few shapes, while a
stream of pages all of different sizes pays at most ``capacity`` compilations per
``idle_calls`` calls and runs the any-size model between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Shape = tuple[int, ...]
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class _Kept(Generic[T]):
    compiled: T
    last_used: int  # the call that last asked for it


class StaticShapes(Generic[T]):
    """Compilations of one network per input shape, made by ``compile`` when a shape first
    comes and there is room; :meth:`get` returns None where the any-size model should run.

    A shape whose compilation fails (the runtime may refuse a size or run out of memory)
    runs on the any-size model from then on: the page is not lost for a speed-up, and the
    failure is logged once, not paid again on every page of that size. At most
    ``remember_failed`` such shapes are remembered, the oldest forgotten first, so that a
    worker serving pages of ever new sizes for months holds a bounded set."""

    def __init__(self, compile: Callable[[Shape], T], capacity: int, idle_calls: int = 64,
                 remember_failed: int = 256):
        self._compile = compile
        self.capacity, self.idle_calls = capacity, idle_calls
        self.remember_failed = remember_failed
        self._kept: dict[Shape, _Kept[T]] = {}
        self._failed: dict[Shape, None] = {}  # insertion-ordered: the oldest first
        self._calls = 0
        self.compilations = 0

    @property
    def failed(self) -> set[Shape]:
        """The shapes that failed to compile and are still remembered."""
        return set(self._failed)

    @property
    def shapes(self) -> list[Shape]:
        """The shapes compiled now, oldest first."""
        return list(self._kept)

    def get(self, shape: Shape) -> T | None:
        """The compilation for ``shape``, made now if there is room or a shape idle for
        ``idle_calls`` calls to replace; None: every kept shape is in use or this one failed
        to compile, run the any-size model."""
        self._calls += 1
        kept = self._kept.get(shape)
        if kept is None:
            if self.capacity <= 0 or shape in self._failed:
                return None
            if len(self._kept) >= self.capacity:
                stalest = min(self._kept, key=lambda s: self._kept[s].last_used)
                if self._calls - self._kept[stalest].last_used < self.idle_calls:
                    return None
                del self._kept[stalest]
            try:
                compiled = self._compile(shape)
            except (RuntimeError, MemoryError) as exc:  # OpenVINO raises RuntimeError kinds
                self._remember_failure(shape)
                log.warning("cannot compile the input shape %s (%s); it runs on the any-size "
                            "model", shape, exc)
                return None
            kept = self._kept[shape] = _Kept(compiled, self._calls)
            self.compilations += 1
        kept.last_used = self._calls
        return kept.compiled

    def _remember_failure(self, shape: Shape) -> None:
        self._failed[shape] = None
        while len(self._failed) > max(0, self.remember_failed):
            del self._failed[next(iter(self._failed))]
