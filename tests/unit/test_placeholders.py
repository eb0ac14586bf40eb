"""Placeholder places (deployments/prefect.yaml ships them) are refused by name, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ocr_tasks.cli import main
from ocr_tasks.core.errors import ExitCode, InputError
from ocr_tasks.pipeline.job import check_placed, check_source, is_placeholder

PREFECT_FILE = Path(__file__).resolve().parents[2] / "deployments/prefect.yaml"


def test_the_deployment_files_places_are_placeholders_and_real_places_are_not() -> None:
    places = yaml.safe_load(PREFECT_FILE.read_text())["definitions"]["places"]
    assert places and all(is_placeholder(uri) for uri in places.values())
    for uri in ("s3://CHANGE-ME/in", "s3://bucket/change_me", "/data/changeme"):
        assert is_placeholder(uri)
    for uri in ("s3://ocr-lake/prod", "/data/archive/2026", "s3://set-ocr/exchange-media"):
        assert not is_placeholder(uri)


def test_check_names_the_parameter_and_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        check_placed(str(tmp_path), "s3://__set_OCR_SCHEDULE_LAKE__/ocr")
    assert raised.value.message == (
        "lake is a placeholder (s3://__set_OCR_SCHEDULE_LAKE__/ocr): set it in "
        "deployments/prefect.yaml (or OCR_SCHEDULE_LAKE for deployments/deploy.py) or pass "
        "--param lake=...")
    with pytest.raises(InputError, match="^source is a placeholder"):
        check_source("s3://__set_OCR_SCHEDULE_SOURCE__/incoming", str(tmp_path / "lake"))
    check_placed(str(tmp_path), str(tmp_path / "lake"))  # real places pass


def test_ingest_refuses_a_placeholder_before_starting_anything(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["ingest", "s3://__set_OCR_SCHEDULE_SOURCE__/incoming", "--lake",
                 str(tmp_path / "lake")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == ExitCode.BAD_INPUT
    assert err == ["error (invalid): source is a placeholder "
                   "(s3://__set_OCR_SCHEDULE_SOURCE__/incoming): set it in "
                   "deployments/prefect.yaml (or OCR_SCHEDULE_SOURCE for deployments/deploy.py) "
                   "or pass --param source=..."]
    assert not (tmp_path / "lake").exists()
