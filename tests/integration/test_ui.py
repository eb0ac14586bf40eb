"""Run history in the Prefect UI from the embedded default, as a newcomer meets it.

``ocr-pipeline ingest`` with no PREFECT_API_URL (``make run``) reports to a server started
for the run alone; ``ocr-pipeline ui`` (``make ui``) then serves the same database, and the
run, its artifacts and CER trend are there. While the UI runs, a new run reports to it.
Everything is a subprocess on its own PREFECT_HOME, as from a terminal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ocr_tasks.core.loopback import free_port
from tests.integration.conftest import write_document

pytestmark = pytest.mark.slow  # two OCR runs on local Dask clusters, two Prefect servers


def _env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(home), OCR_SCHEDULE_API_PORT=str(port), OCR_CANARY_PAGES="0",
               OCR_AUDIT_PAGES="0", PYTHONPATH=str(Path.cwd()))
    return env


def _ingest(source: Path, lake: Path, env: dict[str, str]) -> tuple[list[str], str]:
    """The command's printed lines (stdout) and its logs (stderr)."""
    done = subprocess.run([sys.executable, "-m", "ocr_tasks.cli", "ingest", str(source),
                           "--lake", str(lake), "--workers", "1", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines(), done.stderr


def _runs(api: str) -> dict[str, dict[str, Any]]:
    found = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=30).json()
    return {run["id"]: run for run in found}


def test_runs_of_the_embedded_default_are_in_the_ui_it_serves(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path / "prefect-home", port)
    ui = f"http://127.0.0.1:{port}"
    source, lake = tmp_path / "in", tmp_path / "lake"
    write_document(source, "a.png", [["Claim CLM-2026-1"]])

    lines, logs = _ingest(source, lake, env)
    last = re.fullmatch(r"run history: `ocr-pipeline ui` \(or `make ui`\) serves it, then "
                        rf"open {ui}/runs/flow-run/([0-9a-f-]+)", lines[-1])
    assert last, lines  # not the address of the server that stopped with the run
    first_id = last.group(1)
    assert not any(re.search(r"https?://127\.0\.0\.1:\d+/api", line) for line in lines)
    assert f"View at {ui}/runs/flow-run/{first_id}" in logs  # Prefect's own line, too

    server = subprocess.Popen([sys.executable, "-m", "ocr_tasks.cli", "ui"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        said = server.stdout.readline().strip()
        assert said == (f"Prefect UI: {ui}/runs (started here; run history in "
                        f"{tmp_path / 'prefect-home' / 'prefect.db'}; API {ui}/api)")
        runs = _runs(f"{ui}/api")
        assert runs[first_id]["state"]["type"] == "COMPLETED"
        assert runs[first_id]["name"].startswith("nightly-")
        artifacts = httpx.post(f"{ui}/api/artifacts/filter", timeout=30, json={
            "artifacts": {"flow_run_id": {"any_": [first_id]}}}).json()
        assert {a["type"] for a in artifacts} == {"table", "markdown", "image"}
        assert any(a["key"].startswith("ocr-cer-trend-") for a in artifacts)
        page = httpx.get(f"{ui}/runs", headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()

        # while the UI runs, a run reports to it: it is listed live, and says where
        write_document(source, "b.png", [["Claim CLM-2026-2"]])
        lines, _ = _ingest(source, lake, env)
        live = re.fullmatch(rf"run in the Prefect UI: {ui}/runs/flow-run/([0-9a-f-]+)",
                            lines[-1])
        assert live, lines
        assert set(_runs(f"{ui}/api")) == {first_id, live.group(1)}
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    assert server.returncode == 0 and "Prefect UI stopped" in out
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # its server went with it
        try:
            httpx.get(f"{ui}/api/health", timeout=1)
        except httpx.HTTPError:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the Prefect server still answers at {ui} after ui stopped")
