"""Faults during a run: nothing lost, nothing twice, and ``verify`` proves it each time.

Faults come from outside the pipeline: a worker process killed with SIGKILL, the flow process
killed with SIGKILL, an S3 proxy that throttles, fails, resets or goes away, and (in-process)
a batch function that raises.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ocr_tasks.cli import main
from ocr_tasks.core.errors import ExitCode
from ocr_tasks.io.storage import open_store
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from tests.faults import (
    NO_CANARIES,
    FaultPlan,
    FaultProxy,
    StallFirstBatch,
    no_canaries,
    run_flow_in_process,
    wait_for,
)
from tests.integration.conftest import text_page
from tests.s3server import closed_port

pytestmark = pytest.mark.usefixtures("prefect_api", "no_canaries")
__all__ = ["no_canaries"]  # a fixture, used through pytestmark

REPO = Path(__file__).resolve().parents[2]  # `python -m` runs the tree under test
CLAIMS = {f"claims/claim {i}.png": f"Claim CLM-{1000 + i}" for i in range(6)}


def write_claims(folder: Path, count: int = 6) -> None:
    for key, text in list(CLAIMS.items())[:count]:
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        text_page([text], size=(420, 120)).save(folder / key, dpi=(150, 150))


def upload_claims(s3: Any, bucket: str, prefix: str, tmp: Path, count: int = 3) -> None:
    write_claims(tmp, count)
    client = s3.client()
    for path in sorted(tmp.rglob("*.png")):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(tmp).as_posix()}")


def s3_env(monkeypatch: pytest.MonkeyPatch, s3: Any, endpoint: str, attempts: int = 8) -> None:
    """Workers read the endpoint and credentials from the environment, never from parameters."""
    monkeypatch.setenv("OCR_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("OCR_S3_MAX_ATTEMPTS", str(attempts))
    monkeypatch.setenv("OCR_S3_CONNECT_TIMEOUT_S", "2")


def assert_exactly_once(lake: Lake, pages: int) -> None:
    rows = lake.read_table("pages", columns=["doc_id", "page"]).to_pylist()
    assert len(rows) == len({(r["doc_id"], r["page"]) for r in rows}) == pages
    batches = [b["batch_id"] for b in lake.read_table("batches", columns=["batch_id"]).to_pylist()]
    assert len(batches) == len(set(batches))


# ---------------------------------------------------------------------------------- Dask


@pytest.mark.slow
def test_worker_killed_mid_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL the worker while it holds a batch: Dask restarts it and reruns the batch on the
    new worker; the run completes and every page appears once."""
    from distributed import Client, LocalCluster

    from flows.ingest import nightly_ingest
    from flows.runtime import dask_task_runner

    src, lake_dir, marker = tmp_path / "in", tmp_path / "lake", tmp_path / "stalled-pid"
    write_claims(src, 3)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit="3GiB") as cluster, Client(cluster) as client:
        client.register_plugin(StallFirstBatch(marker))
        killed: list[int] = []

        def kill_when_stalled() -> None:
            pid = int(
                wait_for(lambda: marker.exists() and marker.read_text(), 240, "a stalled batch")
            )
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        killer = threading.Thread(target=kill_when_stalled, daemon=True)
        killer.start()
        flow = nightly_ingest.with_options(
            task_runner=dask_task_runner(1, cluster.scheduler_address)
        )
        state = flow(source=str(src), lake=str(lake_dir), batch_pages=1, return_state=True)
        killer.join(timeout=5)
        assert killed, "the worker was never killed"
        assert state.is_completed(), state
        workers = client.scheduler_info()["workers"].values()
        assert all(w.get("pid") != killed[0] for w in workers)  # a new worker did the rest
    lake = Lake.open(str(lake_dir))
    assert_exactly_once(lake, 3)
    report = verify_lake(lake, open_store(str(src)))
    assert report.ok and report.processed == 3, report


@pytest.mark.slow
def test_flow_process_killed_then_rerun_does_only_the_missing_batches(
    tmp_path: Path, prefect_api: str
) -> None:
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    write_claims(src, 6)
    cmd = [sys.executable, "-m", "ocr_tasks.cli", "ingest", str(src), "--lake",
           str(lake_dir), "--batch-pages", "1", "--workers", "1", "--max-in-flight", "2",
           "--no-progress"]
    env = {**os.environ, **NO_CANARIES, "PREFECT_API_URL": prefect_api,
           "OCR_LEASE_TTL_S": "9", "OCR_LEASE_HEARTBEAT_S": "3"}
    log_dir = lake_dir / "_log"
    first = subprocess.Popen(cmd, env=env, cwd=REPO, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: log_dir.is_dir() and any(log_dir.rglob("*.json"))
                 or first.poll() is not None, 300, "the first commit")
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the flow process and its Dask workers
        first.wait(timeout=30)
    lake = Lake.open(str(lake_dir))
    done_before = {r.batch_id for r in lake.commits()}
    assert 1 <= len(done_before) < 6, "kill the run mid-way"
    before = verify_lake(lake, open_store(str(src)))
    assert {p.kind for p in before.problems} <= {"missing", "uncommitted_file"}
    assert sum(p.kind == "missing" for p in before.problems) == 6 - len(done_before)

    second = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"{6 - len(done_before)} pages" in second.stdout
    runs = lake.read_table("runs").to_pylist()
    assert [r["pages"] for r in runs] == [6 - len(done_before)]  # the killed run never finished
    batches = lake.read_table("batches").to_pylist()
    redone = {b["batch_id"] for b in batches if b["run_id"] == runs[0]["run_id"]}
    assert not redone & done_before and len(redone) == 6 - len(done_before)
    assert_exactly_once(lake, 6)
    assert verify_lake(lake, open_store(str(src))).ok


# ------------------------------------------------------------------------------------ S3


def test_transient_s3_errors_are_retried(
    tmp_path: Path, s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 SlowDown, 500 and connection resets on source and lake requests: botocore retries
    them with backoff; the run completes with no error rows and every page once."""
    bucket = s3_endpoint.make_bucket()
    upload_claims(s3_endpoint, bucket, "drop", tmp_path / "files", 3)
    plan = FaultPlan(fail_first=6, fail_fraction=0.12, max_faults=20, seed=7)
    with FaultProxy(s3_endpoint.endpoint_url, plan) as proxy:
        s3_env(monkeypatch, s3_endpoint, proxy.endpoint_url, attempts=8)
        source, lake_uri = f"s3://{bucket}/drop", f"s3://{bucket}/lake"
        state = run_flow_in_process(source, lake_uri, batch_pages=1)
        assert state.is_completed(), state
        assert all(proxy.faults_of(kind) >= 2 for kind in ("503", "500", "reset")), proxy.injected
        lake = Lake.open(lake_uri)
        assert lake.read_table("errors").num_rows == 0
        assert_exactly_once(lake, 3)
        assert verify_lake(lake, open_store(source)).ok
        assert_no_credentials(lake, s3_endpoint)


def assert_no_credentials(lake: Lake, s3: Any) -> None:
    """No table row and no commit record carries the access key or the secret."""
    from ocr_tasks.lake.schema import TABLES

    written = [str(lake.read_table(name).to_pylist()) for name in TABLES]
    written += [str(record) for record in lake.commits()]
    assert written and not any(s3.secret_key in text or s3.access_key in text for text in written)


def test_s3_unreachable_from_the_start(
    tmp_path: Path, s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing listens at the endpoint: the CLI fails fast with the endpoint in the message."""
    dead = f"http://127.0.0.1:{closed_port()}"
    s3_env(monkeypatch, s3_endpoint, dead, attempts=2)
    code = main(["ingest", "s3://archive/drop", "--lake", "s3://lake/ocr", "--workers", "1",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == ExitCode.STORAGE
    assert f"S3 endpoint {dead} unreachable" in err, err
    assert s3_endpoint.secret_key not in err


def test_s3_goes_away_mid_batch_then_comes_back(
    tmp_path: Path, s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint dies between a batch's data files and its commit record: the run fails
    with a clear message; commit-based readers see nothing of that batch; verify lists the
    orphaned files; the next run waits for the failed run's lease to expire, sweeps them and
    completes, every page once."""
    import flows.ingest

    monkeypatch.setenv("OCR_LEASE_TTL_S", "6")
    monkeypatch.setenv("OCR_LEASE_HEARTBEAT_S", "2")
    bucket = s3_endpoint.make_bucket()
    upload_claims(s3_endpoint, bucket, "drop", tmp_path / "files", 2)
    source, lake_uri = f"s3://{bucket}/drop", f"s3://{bucket}/lake"
    monkeypatch.setattr(flows.ingest, "ocr_batch",
                        flows.ingest.ocr_batch.with_options(retries=1, retry_delay_seconds=0))
    plan = FaultPlan(down_on=("PUT", "/lake/_commits/"))
    with FaultProxy(s3_endpoint.endpoint_url, plan) as proxy:
        s3_env(monkeypatch, s3_endpoint, proxy.endpoint_url, attempts=2)
        state = run_flow_in_process(source, lake_uri, batch_pages=1)
        assert proxy.went_down
    assert state.is_failed()
    assert "unreachable" in state.message and proxy.endpoint_url in state.message, state.message

    s3_env(monkeypatch, s3_endpoint, s3_endpoint.endpoint_url)
    lake = Lake.open(lake_uri)
    assert lake.commits() == [] and lake.read_table("pages").num_rows == 0
    report = verify_lake(lake, open_store(source))
    assert {p.kind for p in report.problems} == {"missing", "uncommitted_file"}
    assert all(
        "/ingest_date=" in p.subject for p in report.problems if p.kind == "uncommitted_file"
    )

    assert run_flow_in_process(source, lake_uri, batch_pages=1).is_completed()
    assert_exactly_once(lake, 2)
    assert verify_lake(lake, open_store(source)).ok


# -------------------------------------------------------------------------------- batches


def test_batch_raising_an_unexpected_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch raises a bug-like exception: the other batches commit, the run ends Failed,
    the documents of the failed batch have retryable error rows; a re-run completes them."""
    import flows.ingest

    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    write_claims(src, 3)
    poisoned = "claims/claim 1.png"
    real = flows.ingest.run_batch

    def buggy(spec: Any, **kwargs: Any) -> Any:
        if any(item.probe.ref.key == poisoned for item in spec.items):
            raise RuntimeError("injected fault: list index out of range")
        return real(spec, **kwargs)

    monkeypatch.setattr(flows.ingest, "run_batch", buggy)
    state = run_flow_in_process(str(src), str(lake_dir), batch_pages=1)
    assert state.is_failed() and "(1 failed)" in state.message, state.message
    lake = Lake.open(str(lake_dir))
    [error] = lake.read_table("errors").to_pylist()
    assert error["source_uri"] == str(src / poisoned) and error["kind"] == "batch_failed"
    assert error["retryable"] and "RuntimeError: injected fault" in error["message"]
    statuses = sorted(d["status"] for d in lake.read_table("documents").to_pylist())
    assert statuses == ["error", "ok", "ok"]
    report = verify_lake(lake, open_store(str(src)))
    assert report.ok and (report.processed, report.pending_retry) == (2, 1), report

    monkeypatch.setattr(flows.ingest, "run_batch", real)
    again = run_flow_in_process(str(src), str(lake_dir), batch_pages=1)
    assert again.is_completed() and again.result().pages == 1
    assert_exactly_once(lake, 3)
    report = verify_lake(lake, open_store(str(src)))
    assert report.ok and (report.processed, report.pending_retry) == (3, 0), report
