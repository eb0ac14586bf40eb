"""Quality monitoring through the real flow: CER samples, Prefect artifacts, the degraded event.

One clean page with a sidecar; canaries at scan severity 6 stand in for a degraded pipeline
(a broken scanner profile or model gives the same picture: canary CER near 100 %). The flow
runs with Prefect's thread-pool task runner to stay fast; the code path per batch is the one
Dask workers run. Customer pages and canaries are judged apart: bad canaries next to a good
customer page degrade the run through the canaries alone.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocr_tasks.cli import main as cli
from ocr_tasks.core.errors import ExitCode, RunDegraded
from ocr_tasks.lake.tables import Lake
from ocr_tasks.quality.report import DEGRADED_EVENT, artifact_key
from tests.integration.conftest import write_document

LINES = ["Claim CLM-2026-0417", "Insured Maria Keller"]


@pytest.fixture()
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Every event the flow process emits, captured instead of sent."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    yield worker
    worker.drain()


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    write_document(folder, "claims/claim.png", [LINES])
    (folder / "claims" / "claim.gt.txt").write_text("\n".join(LINES) + "\n")
    return folder


def run(source: Path, lake: Path, monkeypatch: pytest.MonkeyPatch, **settings: str) -> Any:
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.ingest import nightly_ingest

    for name, value in {"OCR_AUDIT_PAGES": "1", **settings}.items():
        monkeypatch.setenv(name, value)
    flow = nightly_ingest.with_options(task_runner=ThreadPoolTaskRunner(max_workers=1))
    return flow(source=str(source), lake=str(lake), return_state=True)


def artifacts(state: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    return {a.key: a for a in found}


def degraded_events(worker: Any) -> list[Any]:
    worker.wait_until_empty()
    return [e for e in worker._client.events if e.event == DEGRADED_EVENT]


@pytest.mark.usefixtures("prefect_api")
def test_healthy_run_publishes_report_without_alert(source: Path, tmp_path: Path, events: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lake = tmp_path / "lake"
    state = run(source, lake, monkeypatch, OCR_CANARY_PAGES="0")
    assert state.is_completed() and state.name == "Completed"
    summary = state.result()
    samples = Lake.open(str(lake)).read_table("cer_samples").to_pylist()
    pages = [s for s in samples if s["level"] == "page"]
    assert [(s["source"], s["ref_chars"]) for s in pages] == [("sidecar", sum(map(len, LINES)))]
    assert summary.cer is not None and summary.cer < 0.10
    run_row = Lake.open(str(lake)).read_table("runs").to_pylist()[0]
    assert run_row["cer"] == pytest.approx(summary.cer)
    assert list(lake.glob("_audit/pending/*/*.png")) and list(lake.glob("_reports/*/cer_trend.png"))

    assert run_row["status"] == "completed"
    assert summary.verdict is not None and not summary.verdict.degraded

    published = artifacts(state)
    keys = {kind: artifact_key(kind, "nightly_ingest", str(lake))
            for kind in ("ocr-batches", "ocr-quality-report", "ocr-cer-trend")}
    assert set(keys.values()) <= set(published)
    assert keys["ocr-batches"].startswith("ocr-batches-nightly-lake-")
    assert published[keys["ocr-batches"]].type == "table"
    report = published[keys["ocr-quality-report"]].data
    assert "within threshold" in report and "data:image/png;base64," in report
    assert degraded_events(events) == []

    buffer = io.StringIO()  # not capsys: Prefect's console log handler would keep its stream
    with contextlib.redirect_stdout(buffer):
        assert cli(["report", "--lake", str(lake), "--calibration"]) == 0
    out = buffer.getvalue()
    assert summary.run_id[:8] in out and "Words: confidence vs. errors" in out


@pytest.mark.usefixtures("prefect_api")
def test_degraded_canaries_push_cer_past_threshold_and_emit_event(
        source: Path, tmp_path: Path, events: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = tmp_path / "lake"
    state = run(source, lake, monkeypatch, OCR_CANARY_PAGES="1", OCR_CANARY_SEVERITY="6")
    # FAILED-type: the UI colours a badge by type, and a degraded run must not be green
    assert state.is_failed() and state.name == "Degraded"
    assert "OCR quality degraded" in state.message and "> 10%" in state.message
    with pytest.raises(RunDegraded, match="^OCR quality degraded: canaries"):
        state.result()
    summary = state.result(raise_on_failure=False).summary  # the data is committed and usable
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).state
    assert stored is not None and (stored.type.value, stored.name) == ("FAILED", "Degraded")
    assert summary.status == "degraded" and summary.cer > 0.10

    batches = Lake.open(str(lake)).read_table("batches").to_pylist()
    assert batches[0]["canary_pages"] == 1 and batches[0]["cer"] > 0.10
    pages = Lake.open(str(lake)).read_table("pages").to_pylist()
    assert len(pages) == 1  # the canary never reaches the customer tables
    runs = Lake.open(str(lake)).read_table("runs").to_pylist()
    assert [r["status"] for r in runs] == ["degraded"]

    # customer pages and canaries judged apart: the clean page is not dragged over the line
    verdict = summary.verdict
    customer, canary = verdict.scope("customer"), verdict.scope("canary")
    assert customer.pages == 1 and customer.cer < 0.10 and not customer.above(0.10)
    assert canary.pages == 1 and canary.cer > 0.40
    assert verdict.degraded_scopes == ["canary"]
    assert {a.scope for a in verdict.alerts} == {"canary"}
    line = summary.describe()
    assert line.startswith("degraded: ") and "quality DEGRADED (CER threshold 10%)" in line
    assert f"customer pages CER {customer.cer:.1%} (1 page) ok" in line
    assert f"canaries CER {canary.cer:.1%} (1 page) above 10%" in line

    alerts = degraded_events(events)
    assert {e.payload["batch_id"] for e in alerts} == {batches[0]["batch_id"], None}
    assert {e.payload["scope"] for e in alerts} == {"canary"}
    batch_alert = next(e for e in alerts if e.payload["batch_id"])
    assert batch_alert.payload["run_id"] == summary.run_id
    assert batch_alert.payload["cer"] == pytest.approx(canary.cer)
    assert batch_alert.payload["degraded_scopes"] == ["canary"]
    assert batch_alert.payload["run"]["customer"]["degraded"] is False
    assert batch_alert.payload["run"]["customer"]["cer"] == pytest.approx(customer.cer)
    assert batch_alert.resource.id == f"ocr.batch.{batches[0]['batch_id']}"
    assert batch_alert.resource["ocr.scope"] == "canary"
    report = artifacts(state)[artifact_key("ocr-quality-report", "nightly_ingest", str(lake))].data
    assert "OCR quality degraded: canaries" in report
    assert "| customer pages (sidecars, audits) |" in report and "| ok |" in report


@pytest.mark.usefixtures("prefect_api")
def test_cli_says_degraded_last_and_exits_4(source: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Through ``ocr-pipeline ingest`` (tasks on a thread instead of Dask workers)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows import runtime

    monkeypatch.setattr(runtime, "dask_task_runner",
                        lambda *_: ThreadPoolTaskRunner(max_workers=1))
    for name, value in {"OCR_AUDIT_PAGES": "0", "OCR_CANARY_PAGES": "1",
                        "OCR_CANARY_SEVERITY": "6"}.items():
        monkeypatch.setenv(name, value)
    lake = tmp_path / "lake"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli(["ingest", str(source), "--lake", str(lake), "--no-progress"])
    lines = buffer.getvalue().splitlines()
    assert code == ExitCode.DEGRADED == 4
    assert lines[0].startswith("degraded: 1 documents, 1 pages")
    assert lines[-1].startswith("run DEGRADED: canaries of batch ") and "> 10%" in lines[-1]
    assert "customer pages" not in lines[-1]
    runs = Lake.open(str(lake)).read_table("runs").to_pylist()
    assert [r["status"] for r in runs] == ["degraded"]
