"""Flow-level edges a new user meets: a backfill window typed without a time zone, and run
names that say which flow, day and lake a run is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocr_tasks.lake.tables import Lake
from ocr_tasks.pipeline.job import run_name
from tests.faults import no_canaries
from tests.integration.conftest import write_document

pytestmark = pytest.mark.usefixtures("prefect_api", "no_canaries")
__all__ = ["no_canaries"]


def test_backfill_takes_a_naive_window_as_utc_and_names_its_run(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.ingest import backfill

    source, lake = tmp_path / "in", tmp_path / "lake"
    write_document(source, "a.png", [["Claim CLM-1"]])
    flow = backfill.with_options(task_runner=ThreadPoolTaskRunner(max_workers=1))
    state = flow(source=str(source), lake=str(lake), since=datetime(2000, 1, 1),
                 until=datetime(2100, 1, 1, 12, 30), return_state=True)
    assert state.is_completed(), state.message
    assert state.result().pages == 1
    run = Lake.open(str(lake)).read_table("runs").to_pylist()[0]
    assert json.loads(run["parameters"])["since"] == "2000-01-01T00:00:00+00:00"
    assert json.loads(run["parameters"])["until"] == "2100-01-01T12:30:00+00:00"

    with get_client(sync_client=True) as client:
        name = client.read_flow_run(state.state_details.flow_run_id).name
    today = datetime.now(UTC).date()
    assert name == run_name("backfill", str(lake), today)
    assert name.startswith(f"backfill-{today.isoformat()}-lake-")
