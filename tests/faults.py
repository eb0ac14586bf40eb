"""Fault injection for the reliability tests: an S3 fault proxy and a Dask worker hook.

Nothing here is imported by the pipeline: faults come from outside, through the same doors a
real outage uses (the network in front of S3, a worker process that dies).
"""

from __future__ import annotations

import os
import random
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from distributed.diagnostics.plugin import WorkerPlugin

# What an S3 endpoint answers when it is overloaded, broken or forbids a key.
_RESPONSES = {
    "503": (503, "Service Unavailable", "SlowDown", "Please reduce your request rate."),
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "403": (403, "Forbidden", "AccessDenied", "Access Denied"),
}
FAULTS = ("503", "500", "reset")


@dataclass
class FaultPlan:
    """Which requests fail. Bounded: at most ``max_faults`` injected in all.

    ``fail_first`` requests fail in turn with ``faults``; after that each request fails with
    probability ``fail_fraction`` (seeded, so a run is repeatable). Requests for a key containing
    one of ``deny`` are always read with 403 AccessDenied. The endpoint goes away (every
    connection reset from then on) after ``down_after`` requests, or at the first request whose
    method and key match ``down_on`` (e.g. ``("PUT", "/_commits/")``: the data files of the
    first batch are written, its commit record is not).
    """

    fail_first: int = 0
    fail_fraction: float = 0.0
    faults: tuple[str, ...] = FAULTS
    deny: tuple[str, ...] = ()
    down_after: int | None = None
    down_on: tuple[str, str] | None = None
    max_faults: int = 200
    seed: int = 0


@dataclass
class FaultProxy:
    """An HTTP proxy on loopback in front of an S3 endpoint, injecting the faults of a plan.

    One request per connection (forwarded with ``Connection: close``) so that every request is
    seen. Stops itself after ``lifetime_s`` in case a test forgets to.
    """

    upstream: str
    plan: FaultPlan = field(default_factory=FaultPlan)
    lifetime_s: float = 600.0
    requests: int = 0
    injected: list[tuple[str, str, str]] = field(default_factory=list)  # (fault, method, key)
    went_down: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self._upstream_addr = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rng = random.Random(self.plan.seed)
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._timer: threading.Timer | None = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "proxy not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: new connections are refused (endpoint unreachable)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def faults_of(self, kind: str) -> int:
        return sum(1 for fault, _, _ in self.injected if fault == kind)

    # ----------------------------------------------------------------------- per request

    def _decide(self, method: str, key: str) -> str | None:
        plan = self.plan
        with self._lock:
            self.requests += 1
            n = self.requests
            if method in ("GET", "HEAD") and any(d in key for d in plan.deny):
                fault: str | None = "403"
            elif self._down(method, key, n):
                fault = "reset"
            elif len(self.injected) >= plan.max_faults:
                fault = None
            elif n <= plan.fail_first:
                fault = plan.faults[(n - 1) % len(plan.faults)]
            elif plan.fail_fraction and self._rng.random() < plan.fail_fraction:
                fault = self._rng.choice(plan.faults)
            else:
                fault = None
            if fault is not None:
                self.injected.append((fault, method, key))
            return fault

    def _down(self, method: str, key: str, n: int) -> bool:
        plan = self.plan
        if plan.down_on is not None and method == plan.down_on[0] and plan.down_on[1] in key:
            self.went_down = True
        if plan.down_after is not None and n > plan.down_after:
            self.went_down = True
        return self.went_down

    def _handle(self, client: socket.socket) -> None:
        head, rest = _read_head(client)
        if head is None:
            client.close()
            return
        method, target = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
        fault = self._decide(method, unquote(urlsplit(target).path))
        if fault == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # RST: the client sees "connection reset by peer"
            return
        if fault is not None:
            _drain_body(client, head, rest)
            _respond(client, method, *_RESPONSES[fault])
            return
        try:
            upstream = socket.create_connection(self._upstream_addr, timeout=30)
        except OSError:
            client.close()
            return
        upstream.sendall(_close_after(head) + rest)
        _pipe(client, upstream)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def _drain_body(sock: socket.socket, head: bytes, rest: bytes) -> None:
    """Read the request body before answering, unless the client waits for 100-continue."""
    if (_header(head, b"expect") or b"").lower() == b"100-continue":
        return
    length = int(_header(head, b"content-length") or 0) - len(rest)
    while length > 0:
        chunk = sock.recv(min(length, 65536))
        if not chunk:
            return
        length -= len(chunk)


def _respond(
    sock: socket.socket, method: str, status: int, reason: str, code: str, msg: str
) -> None:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{msg}</Message><RequestId>fault-proxy</RequestId></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        sock.sendall(head + (b"" if method == "HEAD" else body))
    finally:
        sock.close()


def _close_after(head: bytes) -> bytes:
    """The request head with ``Connection: close`` (unsigned by SigV4, so safe to set)."""
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    def forward(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    up = threading.Thread(target=forward, args=(client, upstream), daemon=True)
    up.start()
    forward(upstream, client)
    up.join(timeout=5)
    client.close()
    upstream.close()


# --------------------------------------------------------------------------- Dask worker


class StallFirstBatch(WorkerPlugin):
    """Dask worker plugin: the first batch to read a page announces its worker's pid in
    ``marker`` and stalls, so the test can kill that worker mid-batch. Workers started later
    (the replacement) find the marker and run normally.
    """

    name = "stall-first-batch"

    def __init__(self, marker: Path, stall_s: float = 120.0) -> None:
        self.marker = str(marker)
        self.stall_s = stall_s

    def setup(self, worker: Any) -> None:
        from ocr_tasks.pipeline import batch

        if os.path.exists(self.marker):
            return
        real = batch.stream_pages
        marker, stall_s = self.marker, self.stall_s

        def stalling(*args: Any, **kwargs: Any) -> Any:
            for item in real(*args, **kwargs):
                if not os.path.exists(marker):
                    Path(marker).write_text(str(os.getpid()))
                    time.sleep(stall_s)
                yield item

        batch.stream_pages = stalling


def wait_for(predicate: Any, timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` otherwise."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


# ------------------------------------------------------------------------------- running


def run_flow_in_process(source: str, lake: str, **params: Any) -> Any:
    """The real nightly flow with its tasks on threads of this process, so faults patched
    in here reach them; returns the flow's final state (Completed or Failed)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.ingest import nightly_ingest

    flow = nightly_ingest.with_options(task_runner=ThreadPoolTaskRunner(max_workers=1))
    return flow(source=source, lake=lake, return_state=True, **params)


# Canary pages (full synthetic pages OCR'd in every batch) cost ~10 s each on a shared CPU;
# the fault tests measure accounting, not quality, so they run without them.
NO_CANARIES = {"OCR_CANARY_PAGES": "0", "OCR_AUDIT_PAGES": "0"}


@pytest.fixture
def no_canaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Import into a test module to run its flows without canaries."""
    for key, value in NO_CANARIES.items():
        monkeypatch.setenv(key, value)
