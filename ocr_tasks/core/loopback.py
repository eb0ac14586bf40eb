"""Local servers a run or a benchmark starts on this host: a free port, and whether one answers.

One owner for both, so that the Prefect API a run starts (``flows.runtime``), the one the
benchmark keeps standing (``benchmark.systems``) and the test S3 server agree on them.
"""

from __future__ import annotations

import socket
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """Whether a GET of ``url`` returns 200 within ``timeout_s`` (no answer, refused or an
    error status: False)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            return bool(reply.status == 200)
    except (OSError, ValueError):
        return False
