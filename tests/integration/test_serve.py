"""``ocr-pipeline serve``: settings and deployments, then the real command as a process.

The slow test runs serve exactly as a single-host customer does, with no Prefect API
configured: serve starts its own Prefect server (here on a free loopback port), registers the
nightly schedule and the backfill, and executes a run triggered through the API.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ocr_tasks.cli import build_parser
from ocr_tasks.cli.serve import settings_from_args
from ocr_tasks.core.config import ScheduleSettings
from ocr_tasks.core.loopback import free_port
from ocr_tasks.lake.tables import Lake
from tests.integration.conftest import write_document
from tests.processes import (
    Processes,
    api_healthy,
    deployment,
    scheduled_runs,
    trigger,
    wait_for_flow_run,
    wait_until,
)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(["serve", *argv]).parse_args(["serve", *argv])


def test_flags_override_environment_and_paths_become_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OCR_SCHEDULE_SOURCE", "s3://drop/incoming")
    monkeypatch.setenv("OCR_SCHEDULE_LAKE", "s3://lake/ocr")
    monkeypatch.setenv("OCR_SCHEDULE_CRON", "0 2 * * *")
    settings = settings_from_args(parse())
    assert (settings.source, settings.lake, settings.cron) == ("s3://drop/incoming",
                                                               "s3://lake/ocr", "0 2 * * *")
    assert settings.timezone == "Europe/Berlin" and settings.active

    settings = settings_from_args(parse("in", "--lake", "out", "--cron", "15 3 * * 1-5",
                                        "--timezone", "UTC", "--paused", "--port", "4300"))
    assert settings.source == str(tmp_path / "in") and settings.lake == str(tmp_path / "out")
    assert (settings.cron, settings.timezone, settings.active, settings.api_port) == (
        "15 3 * * 1-5", "UTC", False, 4300)


@pytest.mark.parametrize("field, value", [("timezone", "Mars/Olympus"), ("cron", "every night"),
                                          ("batch_pages", 0)])
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ScheduleSettings(**{field: value})  # type: ignore[arg-type]


def test_serve_refuses_to_start_without_source_and_lake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ocr_tasks.cli import main

    monkeypatch.delenv("OCR_SCHEDULE_SOURCE", raising=False)
    monkeypatch.delenv("OCR_SCHEDULE_LAKE", raising=False)
    assert main(["serve", "--lake", "/tmp/lake"]) == 2
    assert "OCR_SCHEDULE_SOURCE" in capsys.readouterr().err


def test_deployments_carry_the_schedule_and_the_places() -> None:
    from flows.serve import ServeError, build_deployments, check_schedule

    settings = ScheduleSettings(source="s3://drop/in", lake="s3://lake/ocr", cron="0 3 * * *",
                                timezone="America/New_York", active=False, batch_pages=16)
    nightly, backfill = build_deployments(settings)
    assert (nightly.flow_name, nightly.name) == ("nightly-ingest", "nightly")
    assert nightly.entrypoint == "flows.ingest.nightly_ingest"
    (schedule,) = nightly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (
        "0 3 * * *", "America/New_York", False)
    assert nightly.parameters == {"source": "s3://drop/in", "lake": "s3://lake/ocr",
                                  "batch_pages": 16, "max_in_flight": 8}
    assert nightly.concurrency_limit == 1 and nightly.work_pool_name is None
    assert (backfill.flow_name, backfill.name, backfill.schedules) == ("backfill", "backfill", [])
    assert backfill.entrypoint == "flows.ingest.backfill"
    assert backfill.parameters["lake"] == "s3://lake/ocr"
    with pytest.raises(ServeError, match="invalid schedule"):
        check_schedule(settings.model_copy(update={"cron": "99 3 * * *"}))


# ------------------------------------------------------------------------ the real command


@pytest.fixture()
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(logs=tmp_path / "logs")
    try:
        yield procs
    finally:
        procs.close()


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_serve_registers_the_schedule_and_runs_a_triggered_run(
    processes: Processes, tmp_path: Path
) -> None:
    source, lake_dir = tmp_path / "drop", tmp_path / "lake"
    write_document(source, "claims/claim 7.png", [["Claim number CLM-2025-0777"]])
    write_document(source, "letters/letter.png", [["Dear Ms Jansen", "Your policy renews"]])
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    serve = processes.start("serve", [
        sys.executable, "-m", "ocr_tasks.cli", "serve", str(source), "--lake", str(lake_dir),
        "--cron", "15 2 * * 1-5", "--timezone", "America/New_York", "--port", str(port),
        "--workers", "1", "--batch-pages", "2"],
        env={"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": None,
             "PREFECT_RUNNER_POLL_FREQUENCY": "1"})

    nightly = wait_until(lambda: deployment(api, "backfill/backfill")
                         and deployment(api, "nightly-ingest/nightly"), 240,
                         "serve to register its deployments", processes)
    assert nightly["work_pool_name"] is None  # served: this process runs it, no worker
    (schedule,) = nightly["schedules"]
    assert schedule["schedule"]["cron"] == "15 2 * * 1-5"
    assert schedule["schedule"]["timezone"] == "America/New_York"
    assert schedule["active"] is True
    assert nightly["parameters"]["source"] == str(source)
    # The server's scheduler turns the schedule into upcoming runs.
    upcoming = wait_until(lambda: scheduled_runs(api, nightly["id"]), 120,
                          "scheduled runs of the nightly", processes)
    assert all(run["auto_scheduled"] for run in upcoming)

    run_id = trigger(api, nightly["id"])
    run = wait_for_flow_run(api, run_id, 300, processes)
    assert run["state"]["type"] == "COMPLETED", serve.tail()
    lake = Lake.open(str(lake_dir))
    pages = lake.read_table("pages", columns=["page", "text"]).to_pylist()
    assert len(pages) == 2 and any("CLM-2025-0777" in p["text"] for p in pages)
    assert [r["run_id"] for r in lake.read_table("runs", columns=["run_id"]).to_pylist()] == [
        run_id]

    # SIGTERM to serve alone (docker stop, systemd): it pauses its schedule, stops the Prefect
    # server it started and exits 0.
    serve.popen.send_signal(signal.SIGTERM)
    assert serve.popen.wait(timeout=90) == 0, serve.tail()
    assert "All deployments have been paused" in serve.tail(20000)
    with pytest.raises(httpx.HTTPError):
        api_healthy(api)
