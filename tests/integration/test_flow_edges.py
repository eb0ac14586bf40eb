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


def test_a_deployment_left_with_placeholder_places_fails_at_once_in_one_line(
        tmp_path: Path) -> None:
    """``prefect deploy --all`` registers deployments/prefect.yaml's placeholder places; a run
    of one (by hand, or the nightly once activated) must say which parameter to set, before
    anything reaches S3 (it used to end in a 30-line NoSuchBucket traceback)."""
    import time

    import yaml
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.ingest import backfill, nightly_ingest
    from ocr_tasks.core.errors import InputError

    spec = yaml.safe_load(Path("deployments/prefect.yaml").read_text())
    params = {d["name"]: d["parameters"] for d in spec["deployments"]}
    real = tmp_path / "in"
    write_document(real, "a.png", [["Claim CLM-1"]])
    cases = [(nightly_ingest, params["nightly"], "source"),
             (backfill, {**params["backfill"], "source": str(real)}, "lake")]
    for flow, parameters, wrong in cases:
        started = time.monotonic()
        state = flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=1))(
            **parameters, return_state=True)
        assert state.is_failed()
        assert time.monotonic() - started < 20
        assert state.message == (
            f"{wrong} is a placeholder ({parameters[wrong]}): set it in "
            f"deployments/prefect.yaml (or OCR_SCHEDULE_{wrong.upper()} for "
            f"deployments/deploy.py) or pass --param {wrong}=...")
        with pytest.raises(InputError, match=f"^{wrong} is a placeholder"):
            state.result()
    assert not (real / "_commits").exists() and sorted(p.name for p in real.iterdir()) == ["a.png"]
