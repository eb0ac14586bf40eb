"""Deploy ``deployments/prefect.yaml``, placed and scheduled by the settings.

``prefect deploy --all`` registers the deployments as the file has them: placeholder places
(no valid bucket names) and the nightly schedule inactive; a run of such a deployment fails
at once with one line naming the parameter (``source is a placeholder (s3://__set_...``,
``ocr_tasks.pipeline.job.check_placed``). This script deploys the same file,
one deployment at a time (``--all`` ignores ``--pool`` and ``--param``), with

- the places of ``OCR_SCHEDULE_SOURCE`` / ``OCR_SCHEDULE_LAKE`` as the parameters ``source`` and
  ``lake`` of every deployment (the settings ``ocr-pipeline serve`` reads),
- ``--pool`` as their work pool (default: the file's, ``ocr``, created as a process pool when
  missing; any other pool must exist: its worker creates it),

and then sets the nightly's cron and time zone from ``OCR_SCHEDULE_CRON`` /
``OCR_SCHEDULE_TIMEZONE`` (defaults as in prefect.yaml), active once source and lake are both
set (and neither is a placeholder), unless ``OCR_SCHEDULE_ACTIVE=false``. Run it again
after any change: a deploy replaces the schedules.

    PREFECT_API_URL=... OCR_SCHEDULE_SOURCE=s3://drop/in OCR_SCHEDULE_LAKE=s3://lake/ocr \\
        python deployments/deploy.py [--pool ocr-k8s]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PREFECT_FILE = HERE / "prefect.yaml"
NIGHTLY = "nightly-ingest/nightly"
DEFAULT_POOL = "ocr"


def ensure_pool(name: str) -> None:
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            if name != DEFAULT_POOL:
                raise SystemExit(f"work pool {name!r} does not exist: start its worker "
                                 "first") from None
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            print(f"created process work pool {name!r}")


def apply_schedule(cron: str, timezone: str, active: bool) -> None:
    """The nightly's schedule as the settings say: cron and time zone, and whether active."""
    from prefect import get_client
    from prefect.client.schemas.schedules import CronSchedule

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(NIGHTLY)
        for schedule in deployment.schedules:
            client.update_deployment_schedule(
                deployment.id, schedule.id, active=active,
                schedule=CronSchedule(cron=cron, timezone=timezone))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", default=DEFAULT_POOL,
                        help=f"work pool of every deployment (default {DEFAULT_POOL!r})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    sys.path.insert(0, str(HERE.parent))  # also from a checkout that is not installed
    from ocr_tasks.core.config import ScheduleSettings
    from ocr_tasks.pipeline.job import is_placeholder

    settings = ScheduleSettings()
    placed = bool(settings.source and settings.lake) and not any(
        is_placeholder(place) for place in (settings.source, settings.lake) if place)
    ensure_pool(args.pool)
    names = [d["name"] for d in yaml.safe_load(PREFECT_FILE.read_text())["deployments"]]
    for name in names:
        cmd = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--prefect-file",
               str(PREFECT_FILE), "--name", name, "--pool", args.pool]
        if placed:
            cmd += ["--params", json.dumps({"source": settings.source, "lake": settings.lake})]
        done = subprocess.run(cmd, cwd=HERE.parent, env=os.environ.copy(), check=False)
        if done.returncode != 0:
            return done.returncode

    active = placed and settings.active
    apply_schedule(settings.cron, settings.timezone, active)
    state = "active" if active else "inactive"
    print(f"{NIGHTLY}: schedule '{settings.cron}' ({settings.timezone}) {state}; "
          + (f"{settings.source} -> {settings.lake}" if placed else
             "set OCR_SCHEDULE_SOURCE and OCR_SCHEDULE_LAKE and deploy again to place it"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
