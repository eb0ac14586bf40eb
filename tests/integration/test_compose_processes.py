"""infra/compose run without Docker: every service of the Compose file started from its own
command, environment and health check as a local process, in a network namespace of its own
(tests/compose_processes.py), then a document dropped into the drop bucket goes through the
nightly deployment into the lake. Postgres is the machine's PostgreSQL 15 (the image's is 16).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import BASE_ENV, REPO

COMPOSE = REPO / "infra/compose/docker-compose.yml"


def can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_compose_services_run_as_processes_and_ingest_a_drop(tmp_path: Path) -> None:
    if not can_unshare():
        pytest.skip("needs unshare --net --mount (root or user namespaces)")
    if not Path("/usr/lib/postgresql/15/bin/postgres").is_file():
        pytest.skip("needs PostgreSQL 15 (Debian's postgresql-15)")
    compose = Path(sys.executable).parent / "docker-compose"
    config = subprocess.run(
        [str(compose), "--env-file", str(COMPOSE.parent / ".env.example"), "-f", str(COMPOSE),
         "config", "--format", "json"], capture_output=True, text=True, timeout=60, check=True)
    config_file = tmp_path / "compose.json"
    config_file.write_text(config.stdout)
    runner = subprocess.Popen(
        ["unshare", "--net", "--mount", sys.executable, "-m", "tests.compose_processes",
         str(config_file), str(tmp_path / "stack")],
        cwd=REPO, env={**os.environ, **BASE_ENV}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = runner.communicate(timeout=540)
    finally:
        try:  # whatever of the stack outlived the runner (it shares its process group)
            os.killpg(runner.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    lines = out.strip().splitlines()
    assert lines, err[-4000:]
    result = json.loads(lines[-1])
    assert "error" not in result, f"{result['error']}\n{result.get('logs', '')}"

    services = json.loads(config.stdout)["services"]
    long_running = {n for n, s in services.items() if s.get("restart") != "no"}
    assert set(result["healthy_after_s"]) == long_running  # every health check passed
    assert result["completed"] == ["deploy"]
    (schedule,) = result["nightly"]["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["cron"] == services["deploy"]["environment"]["OCR_SCHEDULE_CRON"]
    assert result["nightly"]["parameters"]["source"] == \
        services["deploy"]["environment"]["OCR_SCHEDULE_SOURCE"]
    assert result["run"] == {"state": "COMPLETED", "work_pool_name": "ocr"}
    assert any("CLM-2026-0042" in text for text in result["pages"]), result["pages"]
    assert result["flow_runs_in_postgres"] >= 1
