"""Source objects that change or disappear, through the real flow, and a lake that would
swallow its own source."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_tasks.cli import main
from ocr_tasks.core.errors import ExitCode
from ocr_tasks.io.storage import open_store
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from ocr_tasks.lake.versions import current_documents
from tests.faults import no_canaries, run_flow_in_process
from tests.integration.conftest import write_document

pytestmark = pytest.mark.usefixtures("prefect_api", "no_canaries")
__all__ = ["no_canaries"]


def test_edited_and_deleted_objects_get_versions_and_tombstones(tmp_path: Path) -> None:
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    write_document(src, "a.png", [["Claim CLM-1"]])
    write_document(src, "b.png", [["Claim CLM-2"]])
    write_document(src, "c.png", [["Claim CLM-3"]])
    assert run_flow_in_process(str(src), str(lake_dir)).is_completed()
    (src / "b.png").unlink()  # deleted at the source
    write_document(src, "c.png", [["Claim CLM-3 corrected"]])  # edited in place
    assert run_flow_in_process(str(src), str(lake_dir)).is_completed()

    lake = Lake.open(str(lake_dir))
    docs = lake.read_table("documents", columns=["source_uri", "status"]).to_pylist()
    by_uri: dict[str, list[str]] = {}
    for d in docs:
        by_uri.setdefault(Path(d["source_uri"]).name, []).append(d["status"])
    assert sorted(by_uri["b.png"]) == ["deleted", "ok"]
    assert by_uri["c.png"] == ["ok", "ok"]  # two versions, both kept
    current = {Path(r["source_uri"]).name: r["doc_id"]
               for r in current_documents(lake, ["source_uri", "doc_id"]).to_pylist()}
    assert sorted(current) == ["a.png", "c.png"]
    pages = lake.read_table("pages", columns=["doc_id", "text"]).to_pylist()
    assert "corrected" in next(p["text"] for p in pages if p["doc_id"] == current["c.png"])
    assert verify_lake(lake, open_store(str(src))).ok
    assert run_flow_in_process(str(src), str(lake_dir)).is_completed()  # nothing new
    assert len(lake.read_table("documents")) == len(docs)  # the tombstone is written once


def test_a_lake_inside_its_source_is_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    write_document(src, "a.png", [["Claim CLM-1"]])
    code = main(["ingest", str(src), "--lake", str(src / "lake"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == ExitCode.BAD_INPUT
    assert err == [f"error (invalid): the lake {src / 'lake'} and the source {src} overlap: put "
                   "the lake outside the source folder or bucket prefix"]
    assert not (src / "lake").exists()
