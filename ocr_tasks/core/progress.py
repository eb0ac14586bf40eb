"""Progress events from a run to whoever listens in the same process (the CLI's bar).

Kept out of flow parameters on purpose: a callback is not serializable, and runs started
by a deployment simply have no listener.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def report(event: str, **data: Any) -> None:
    for listener in list(_listeners):
        listener(event, data)
