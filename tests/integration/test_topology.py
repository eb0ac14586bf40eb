"""The production topology as processes on loopback, each started here as production starts it:

    Prefect server (prefect server start) ── Prefect process worker (prefect worker start)
                                                 │ runs deployed flow runs as subprocesses
    SeaweedFS (S3) ◄──── source and lake ────────┤
                                                 ▼
    dask scheduler ── dask worker "cpu-0"        (probes)
                   └─ dask worker "gpu-0" --resources GPU=1   (every OCR batch)

The deployments come from ``deployments/prefect.yaml`` through ``prefect deploy`` (unplaced: the
nightly stays inactive) and then ``deployments/deploy.py`` (placed: active, on the cron of the
settings), and a backfill is triggered through the REST API, as the UI or ``prefect deployment
run`` would. The "GPU"
worker has no GPU: it declares the resource, so what is exercised is the routing (batches
annotated with ``resources={"GPU": 1}`` go to it and only to it), with the CPU engine.

Set ``OCR_UI_SCREENSHOTS=docs/img`` (and have chromium) to keep PNGs of the UI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocr_tasks.lake.tables import Lake
from tests.integration.conftest import TINY_ARCHIVE
from tests.processes import (
    Processes,
    dask_workers,
    deployment,
    flow_run_logs,
    python,
    screenshot,
    start_dask_scheduler,
    start_dask_worker,
    start_prefect_server,
    trigger,
    wait_for_api,
    wait_for_flow_run,
    wait_until,
)
from tests.s3server import S3Server

PAGES = sum(len(pages) for pages in TINY_ARCHIVE.values())  # 4 pages in 3 documents


@pytest.fixture()
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(logs=tmp_path / "logs")
    try:
        yield procs
    finally:
        procs.close()


def upload(s3: S3Server, folder: Path, bucket: str, prefix: str) -> None:
    client = s3.client()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_backfill_deployment_runs_on_the_production_topology(
    processes: Processes, tiny_archive: Path, s3_endpoint: S3Server, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Storage: one bucket holds the drop and the lake; every process gets the endpoint and the
    # credentials from its environment, as in production.
    bucket = s3_endpoint.make_bucket()
    upload(s3_endpoint, tiny_archive, bucket, "drop")
    s3_env = {"OCR_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
              "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
              "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
              "AWS_DEFAULT_REGION": s3_endpoint.region, "OCR_S3_MAX_ATTEMPTS": "3"}
    # Start everything at once; the Prefect server takes longest.
    processes.env = {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    api = start_prefect_server(processes, tmp_path / "prefect-home")
    dask = start_dask_scheduler(processes)
    worker_env = {**s3_env, "PREFECT_API_URL": api}
    start_dask_worker(processes, dask, "cpu-0", env=worker_env)
    start_dask_worker(processes, dask, "gpu-0", "--resources", "GPU=1", env=worker_env)

    workers = wait_until(lambda: (lambda w: w if len(w) == 2 else None)(dask_workers(dask)),
                         120, "two Dask workers", processes)
    assert workers["gpu-0"]["resources"] == {"GPU": 1}
    assert not workers["cpu-0"]["resources"]
    wait_for_api(api, processes)

    # As deployments/prefect.yaml says: pool, deploy, worker. Unplaced, the nightly is inactive.
    unplaced = {"PREFECT_API_URL": api, "OCR_SCHEDULE_SOURCE": None, "OCR_SCHEDULE_LAKE": None}
    processes.run("work-pool-create", python("-m", "prefect", "work-pool", "create", "ocr",
                                             "--type", "process"), 120, env=unplaced)
    processes.run("prefect-deploy", python("-m", "prefect", "--no-prompt", "deploy", "--all",
                                           "--prefect-file", "deployments/prefect.yaml"), 300,
                  env=unplaced)
    nightly = deployment(api, "nightly-ingest/nightly")
    assert nightly is not None and nightly["work_pool_name"] == "ocr"
    (schedule,) = nightly["schedules"]
    assert schedule["schedule"] == {"cron": "30 1 * * *", "timezone": "Europe/Berlin",
                                    "day_or": True}
    assert schedule["active"] is False, "the nightly must stay inactive until source/lake are set"
    assert nightly["parameters"]["source"] == "s3://__set_OCR_SCHEDULE_SOURCE__/incoming"

    # Placed: deploy.py deploys again from the same file and activates the schedule.
    drop, lake_uri = f"s3://{bucket}/drop", f"s3://{bucket}/lake"
    placed = {"PREFECT_API_URL": api, "OCR_SCHEDULE_SOURCE": drop, "OCR_SCHEDULE_LAKE": lake_uri,
              "OCR_SCHEDULE_CRON": "0 4 * * *"}
    output = processes.run("deploy-py", python("deployments/deploy.py"), 300, env=placed)
    assert f"schedule '0 4 * * *' (Europe/Berlin) active; {drop} -> {lake_uri}" in output, output
    nightly = deployment(api, "nightly-ingest/nightly")
    assert nightly is not None
    (schedule,) = nightly["schedules"]
    assert schedule["active"] is True and schedule["schedule"]["cron"] == "0 4 * * *"
    assert (nightly["parameters"]["source"], nightly["parameters"]["lake"]) == (drop, lake_uri)
    backfill = deployment(api, "backfill/backfill")
    assert backfill is not None and backfill["entrypoint"] == "flows.ingest.backfill"
    assert backfill["parameters"]["lake"] == lake_uri and not backfill["schedules"]

    processes.start("prefect-worker", python(
        "-m", "prefect", "worker", "start", "--pool", "ocr", "--type", "process", "--name",
        "topology-worker", "--limit", "1"),
        env={**s3_env, "PREFECT_API_URL": api, "OCR_DASK_ADDRESS": dask,
             "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"})
    run_id = trigger(api, backfill["id"], {"batch_pages": 2})  # source and lake: deployed
    run = wait_for_flow_run(api, run_id, 300, processes)
    assert run["state"]["type"] == "COMPLETED", flow_run_logs(api, run_id)
    assert run["work_pool_name"] == "ocr" and run["deployment_id"] == backfill["id"]

    # The rows are in the lake, every OCR batch ran on the worker declaring the GPU.
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    lake = Lake.open(lake_uri)
    pages = lake.read_table("pages", columns=["doc_id", "page", "text"]).to_pylist()
    assert len(pages) == len({(p["doc_id"], p["page"]) for p in pages}) == PAGES
    assert any("CLM-2025-0417" in p["text"] for p in pages)
    batches = lake.read_table("batches", columns=["batch_id", "worker", "run_id"]).to_pylist()
    assert batches and {b["worker"] for b in batches} == {"gpu-0"}
    assert {b["run_id"] for b in batches} == {run_id}
    runs = lake.read_table("runs", columns=["run_id", "flow", "pages"]).to_pylist()
    assert [(r["run_id"], r["flow"], r["pages"]) for r in runs] == [(run_id, "backfill", PAGES)]

    shots = os.environ.get("OCR_UI_SCREENSHOTS")
    if shots:
        ui = api.removesuffix("/api")
        screenshot(f"{ui}/v2/runs/flow-run/{run_id}", Path(shots) / "topology-backfill-run.png")
        screenshot(f"{ui}/v2/deployments/deployment/{nightly['id']}",
                   Path(shots) / "topology-nightly-deployment.png")
