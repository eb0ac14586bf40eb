"""The training flow under a real Prefect API: one Markdown artifact per stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_tasks.datasets import write_pages
from tests.integration.test_monitoring import artifacts
from tests.unit.test_training import _dataset


@pytest.mark.usefixtures("prefect_api")
def test_train_flow_publishes_an_artifact_per_stage(tmp_path: Path) -> None:
    from flows.train import train_flow

    data = tmp_path / "data"
    write_pages(_dataset(tmp_path).pages, data / "pages.jsonl")
    state = train_flow(work=str(tmp_path / "work"), data=str(data), data_format="dataset",
                       stages=1, steps_per_stage=1, parts="rec", device="cpu", threads=1,
                       name="Tiny Model", return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert [s["stage"] for s in summary["stages"]] == [0, 1]
    published = artifacts(state)
    assert set(published) == {"train-tiny-model-stage-0", "train-tiny-model-stage-1"}
    stage1 = published["train-tiny-model-stage-1"].data
    assert "# Tiny Model: stage 1" in stage1 and "| crop CER |" in stage1
    assert (tmp_path / "work" / "bundle" / "model.json").is_file()
