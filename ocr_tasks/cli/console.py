"""The terminal while a command runs: progress bars and log lines that do not overwrite
each other."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any


def _console_handlers() -> list[logging.StreamHandler[Any]]:
    """Handlers of any logger that write to this process's stdout or stderr (Prefect's
    console handler among them)."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    found: dict[int, logging.StreamHandler[Any]] = {}
    for logger in loggers:
        for handler in logger.handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and handler.stream in (sys.stdout, sys.stderr)):
                found[id(handler)] = handler
    return list(found.values())


@contextlib.contextmanager
def logs_above_bars() -> Iterator[None]:
    """While it lasts, every console log line clears the progress bars, is written on a
    line of its own, and the bars are redrawn below it (``tqdm.external_write_mode``),
    instead of landing in the middle of a bar."""
    from tqdm import tqdm

    wrapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    for handler in _console_handlers():
        original = handler.emit

        def emit(record: logging.LogRecord, _emit: Any = original,
                 _stream: Any = handler.stream) -> None:
            with tqdm.external_write_mode(file=_stream):
                _emit(record)

        wrapped.append((handler, handler.__dict__.get("emit")))
        handler.emit = emit  # type: ignore[method-assign]
    try:
        yield
    finally:
        for handler, before in wrapped:
            if before is None:
                del handler.emit
            else:
                handler.emit = before  # type: ignore[method-assign]


# Prefect reads its logging config (handlers.console.level here) from the environment when a
# process imports it: set now, it applies to the processes started from now on, not to this one.
CHILD_CONSOLE_LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"


@contextlib.contextmanager
def quiet_child_consoles(enabled: bool = True) -> Iterator[None]:
    """Processes started meanwhile (local Dask workers) print only warnings and errors to
    the terminal: they cannot clear this process's bar, so their INFO lines ("Task run ...
    Finished") would run into it. Those lines still reach the Prefect API and UI. A level
    the user set is kept."""
    if not enabled or CHILD_CONSOLE_LEVEL in os.environ:
        yield
        return
    os.environ[CHILD_CONSOLE_LEVEL] = "WARNING"
    try:
        yield
    finally:
        os.environ.pop(CHILD_CONSOLE_LEVEL, None)


def progress_enabled(flag: bool | None) -> bool:
    """``--progress``/``--no-progress``, else a bar only when stderr is a terminal (a log
    file gets no carriage returns)."""
    return sys.stderr.isatty() if flag is None else flag
