"""Real components as child processes for the topology tests: a Prefect server, Dask scheduler
and workers, a Prefect worker, ``ocr-pipeline serve``. Everything binds to 127.0.0.1 on free
ports, every wait is bounded, and every process is stopped (its whole process group) when the
test ends, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ocr_tasks.core.loopback import free_port

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# Every child imports this checkout (a venv's editable install may point at another one),
# stays quiet and single-threaded, and keeps Prefect's state out of the home directory.
BASE_ENV = {
    "PYTHONPATH": str(REPO),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "DASK_LOGGING__DISTRIBUTED": "warning",
    "OMP_NUM_THREADS": "1",
    "OCR_CANARY_PAGES": "0",
}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    one_shot: bool = False  # exiting 0 is its job, not a failure

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, grace_s: float = 30.0) -> int | None:
        """Signal the process group (or the process, when it leads none), wait, then SIGKILL
        what is left of it."""
        try:
            leads = os.getpgid(self.popen.pid) == self.popen.pid
        except ProcessLookupError:
            leads = True

        def send(signal_number: int) -> None:
            try:
                if leads:
                    os.killpg(self.popen.pid, signal_number)
                else:
                    self.popen.send_signal(signal_number)
            except (ProcessLookupError, PermissionError):
                pass

        if self.alive():
            send(sig)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        send(signal.SIGKILL)  # children that outlived their leader (nannies' workers, runs)
        try:
            return self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None


@dataclass
class Processes:
    """Started processes, stopped in reverse order by :meth:`close`."""

    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    started: list[Proc] = field(default_factory=list)
    new_session: bool = True  # False: children stay in the caller's process group

    def _env(self, env: Mapping[str, str | None] | None) -> dict[str, str]:
        """os.environ, then BASE_ENV, self.env and ``env``; a None value removes the key."""
        merged: dict[str, str | None] = {**os.environ, **BASE_ENV, **self.env, **(env or {})}
        return {k: v for k, v in merged.items() if v is not None}

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str | None] | None = None,
              cwd: Path = REPO) -> Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        full_env = self._env(env)
        with log.open("wb") as out:
            popen = subprocess.Popen(list(cmd), cwd=cwd, env=full_env, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=self.new_session)
        proc = Proc(name, popen, log)
        self.started.append(proc)
        return proc

    def run(self, name: str, cmd: Sequence[str], timeout_s: float,
            env: Mapping[str, str | None] | None = None) -> str:
        """Run a command to completion (bounded); its output, or an error with it."""
        full_env = self._env(env)
        done = subprocess.run(list(cmd), cwd=REPO, env=full_env, capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
        output = done.stdout + done.stderr
        (self.logs / f"{name}.log").write_text(output)
        if done.returncode != 0:
            raise AssertionError(f"{name} exited {done.returncode}:\n{output[-4000:]}")
        return output

    def check_alive(self) -> None:
        for proc in self.started:
            if not proc.alive() and not (proc.one_shot and proc.popen.returncode == 0):
                raise AssertionError(f"{proc.name} exited {proc.popen.returncode}:\n{proc.tail()}")

    def close(self) -> None:
        for proc in reversed(self.started):
            proc.stop()

    def describe(self) -> str:
        return "\n".join(f"--- {p.name} (exit {p.popen.poll()}):\n{p.tail(1500)}"
                         for p in self.started)


def wait_until(check: Callable[[], T | None], timeout_s: float, what: str,
               processes: Processes | None = None, every_s: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s`` or as soon
    as one of ``processes`` has died."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if processes is not None:
            processes.check_alive()
        try:
            value = check()
        except Exception as e:  # noqa: BLE001 - "not yet"
            last = e
            value = None
        if value:
            return value
        time.sleep(every_s)
    detail = processes.describe() if processes is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} "
                         f"(last error: {last!r})\n{detail}")


# ------------------------------------------------------------------------------ Prefect


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def prefect_server_env(home: Path, port: int) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
    }


def start_prefect_server(processes: Processes, home: Path) -> str:
    """``prefect server start`` (SQLite under ``home``, UI on); returns the API URL at once,
    :func:`wait_for_api` waits for it."""
    port = free_port()
    processes.start("prefect-server", python("-m", "prefect", "server", "start", "--host",
                    "127.0.0.1", "--port", str(port)), env=prefect_server_env(home, port))
    return f"http://127.0.0.1:{port}/api"


def api_healthy(api: str) -> bool:
    return httpx.get(f"{api}/health", timeout=2).status_code == 200


def wait_for_api(api: str, processes: Processes, timeout_s: float = 180) -> None:
    wait_until(lambda: api_healthy(api), timeout_s, f"the Prefect API at {api}", processes)


def api_get(api: str, path: str) -> Any:
    response = httpx.get(f"{api}{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def api_post(api: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.post(f"{api}{path}", json=body or {}, timeout=10)
    response.raise_for_status()
    return response.json()


def deployment(api: str, name: str) -> dict[str, Any] | None:
    response = httpx.get(f"{api}/deployments/name/{name}", timeout=10)
    return response.json() if response.status_code == 200 else None


def scheduled_runs(api: str, deployment_id: str) -> list[dict[str, Any]]:
    return api_post(api, "/flow_runs/filter", {
        "deployments": {"id": {"any_": [deployment_id]}},
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
    })


def trigger(api: str, deployment_id: str, parameters: dict[str, Any] | None = None) -> str:
    body = {"parameters": parameters} if parameters else {}
    return str(api_post(api, f"/deployments/{deployment_id}/create_flow_run", body)["id"])


FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_for_flow_run(api: str, run_id: str, timeout_s: float,
                      processes: Processes) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        run = api_get(api, f"/flow_runs/{run_id}")
        state = run.get("state") or {}
        return run if state.get("type") in FINAL else None

    return wait_until(final, timeout_s, f"flow run {run_id} to finish", processes, every_s=1.0)


def flow_run_logs(api: str, run_id: str) -> str:
    logs = api_post(api, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}},
                                          "limit": 200})
    return "\n".join(f"{entry['level']} {entry['message']}" for entry in logs)


# -------------------------------------------------------------------------------- Dask


def start_dask_scheduler(processes: Processes) -> str:
    port = free_port()
    processes.start("dask-scheduler", python("-m", "dask", "scheduler", "--host", "127.0.0.1",
                    "--port", str(port), "--no-dashboard"))
    return f"tcp://127.0.0.1:{port}"


def start_dask_worker(processes: Processes, address: str, name: str, *extra: str,
                      env: Mapping[str, str | None] | None = None) -> Proc:
    return processes.start(name, python(
        "-m", "dask", "worker", address, "--host", "127.0.0.1", "--name", name, "--nthreads",
        "1", "--nworkers", "1", "--no-dashboard", "--memory-limit", "4GiB", *extra), env=env)


def dask_workers(address: str) -> dict[str, dict[str, Any]]:
    """Worker name -> its info (resources included), as the scheduler reports them."""
    from distributed import Client

    with Client(address, timeout="10s") as client:
        return {str(w["name"]): w for w in client.scheduler_info(n_workers=-1)["workers"].values()}


# ---------------------------------------------------------------------------- screenshots


def screenshot(url: str, path: Path, wait_ms: int = 20000) -> bool:
    """A headless-Chromium PNG of ``url`` (the Prefect UI is a single-page app: give it time)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1400,900",
                    f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url],
                   capture_output=True, timeout=120, check=False)
    if not path.is_file():
        return False
    from PIL import Image  # 128 colours: a UI screenshot stays legible at a third of the size

    Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)
    return True
