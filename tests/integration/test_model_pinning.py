"""Ingestion pinned to a stored model version through the real flow: every row carries the
version, the lake verifies, and a bad pin fails the run before anything is claimed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_tasks.engine import registry
from ocr_tasks.io.storage import open_store
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from ocr_tasks.quality.report import model_table, run_history
from tests.faults import no_canaries, run_flow_in_process
from tests.integration.conftest import write_document
from tests.unit.test_registry import write_bundle

pytestmark = pytest.mark.usefixtures("prefect_api", "no_canaries")
__all__ = ["no_canaries"]


def test_ingest_pinned_to_a_promoted_version_records_it_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCR_MODEL_CACHE", str(tmp_path / "cache"))
    src, lake_dir = tmp_path / "in", str(tmp_path / "lake")
    write_document(src, "claim.png", [["Claim CLM-2025-0417", "Insured: Maria Keller"]])
    version = registry.publish(lake_dir, "claims", write_bundle(tmp_path / "bundle"))
    registry.promote(lake_dir, "claims", version)
    monkeypatch.setenv("OCR_ENGINE_MODEL", "claims")
    assert run_flow_in_process(str(src), lake_dir).is_completed()

    lake = Lake.open(lake_dir)
    ref = f"claims/{version}"
    for table in ("pages", "lines", "words"):
        assert set(lake.read_table(table, columns=["model_version"])["model_version"]
                   .to_pylist()) == {ref}, table
    assert lake.read_table("runs", columns=["model_version"])["model_version"].to_pylist() == [
        ref]
    pages = lake.read_table("pages", columns=["text"])["text"].to_pylist()
    assert "Keller" in pages[0]
    assert verify_lake(lake, open_store(str(src))).ok
    history = run_history(lake, 5)
    assert [h.model_version for h in history] == [ref]
    assert f"| {ref} | 1 |" in model_table(history, 0.1)

    monkeypatch.setenv("OCR_ENGINE_MODEL", "claims/20990101T000000-00000000")
    write_document(src, "other.png", [["Claim CLM-9"]])
    state = run_flow_in_process(str(src), lake_dir)
    assert state.is_failed() and "ModelError" in state.message and "is not in" in state.message
    assert len(lake.read_table("documents")) == 1  # nothing claimed or written
