"""Inputs found by trying the product as a new user would: none may stop a run or take an
innocent document with it. All through the real flow, outcomes checked in the lake."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ocr_tasks.io.storage import open_store
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from ocr_tasks.pipeline import job
from ocr_tasks.pipeline.discovery import Probe
from tests.faults import no_canaries, run_flow_in_process
from tests.integration.conftest import text_page, write_document
from tests.unit.test_input_formats import heic_photo

pytestmark = pytest.mark.usefixtures("prefect_api", "no_canaries")
__all__ = ["no_canaries"]


def test_odd_inputs_end_as_rows_and_the_run_completes(tmp_path: Path) -> None:
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    write_document(src, "claims/ok.png", [["Claim CLM-7"]])
    # a name that is not UTF-8, as old Windows shares deliver them
    raw = os.path.join(os.fsencode(src / "claims"), b"Schr\xf6der_scan.png")
    text_page(["Claim CLM-8"]).save(raw.decode("utf-8", "surrogateescape"), dpi=(150, 150))
    with open(raw.replace(b".png", b".gt.json"), "w") as f:  # with a sidecar that is no annotation
        f.write("[]")
    # a sidecar that is JSON but not an annotation, next to a good document
    write_document(src, "claims/with truth.png", [["Claim CLM-9"]])
    (src / "claims/with truth.gt.json").write_text("[]")
    # a linked folder (followed) and a link loop (skipped)
    write_document(tmp_path / "elsewhere", "letter.png", [["Letter L-1"]])
    os.symlink(tmp_path / "elsewhere", src / "linked")
    os.symlink(src, src / "claims/loop")
    # a phone photo in HEIC, stored sideways with the EXIF orientation that turns it upright;
    # a phone video next to it
    heic_photo(src / "IMG_0001.HEIC", text_page(["Claim CLM-10"]).rotate(90, expand=True), 6)
    (src / "IMG_0002.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + bytes(200))
    # text far too small to read, and a blank page
    tiny = np.full((1400, 1000), 235, np.uint8)
    tiny[700, 50:950] = 0  # a 1-pixel rule
    Image.fromarray(tiny).save(src / "strip.png", dpi=(150, 150))
    Image.fromarray(np.full((1400, 1000), 240, np.uint8)).save(src / "blank.png", dpi=(150, 150))

    state = run_flow_in_process(str(src), str(lake_dir))
    assert state.is_completed(), state.message
    lake = Lake.open(str(lake_dir))
    docs = {Path(d["source_uri"]).name: d for d in lake.read_table("documents").to_pylist()}
    assert docs["Schr\\xf6der_scan.png"]["status"] == "ok"  # name kept, escaped losslessly
    assert docs["with truth.png"]["status"] == "ok" and docs["ok.png"]["status"] == "ok"
    assert docs["letter.png"]["status"] == "ok"  # through the linked folder
    assert docs["IMG_0001.HEIC"]["status"] == "ok" and docs["IMG_0001.HEIC"]["format"] == "heif"
    assert docs["IMG_0002.MOV"]["status"] == "error"
    errors = {(Path(e["source_uri"]).name, e["kind"]): e for e in
              lake.read_table("errors").to_pylist()}
    assert "QuickTime video" in errors[("IMG_0002.MOV", "unsupported")]["message"]
    odd_truth = errors[("Schr\\xf6der_scan.png", "bad_sidecar")]["message"]
    assert "Schr\\xf6der_scan.gt.json" in odd_truth  # the message escapes the name too
    bad = errors[("with truth.png", "bad_sidecar")]
    assert not bad["retryable"] and bad["page"] is None and "with truth.gt.json" in bad["message"]
    pages = {d["doc_id"]: d for d in lake.read_table("pages").to_pylist()}
    photo = pages[docs["IMG_0001.HEIC"]["doc_id"]]
    assert "CLM-10" in photo["text"] and (photo["width"], photo["height"]) == (1000, 700)
    strip = pages[docs["strip.png"]["doc_id"]]
    blank = pages[docs["blank.png"]["doc_id"]]
    assert strip["text"] == "" and strip["confidence"] == 0.0 and strip["needs_review"]
    assert blank["text"] == "" and blank["confidence"] == 1.0 and not blank["needs_review"]
    report = verify_lake(lake, open_store(str(src)))
    assert report.ok, [str(p) for p in report.problems]
    assert report.documents == 8

    # the next night the linked disk is not mounted: its documents are not taken as deleted
    os.rename(tmp_path / "elsewhere", tmp_path / "unmounted")
    night = run_flow_in_process(str(src), str(lake_dir))
    assert night.is_completed(), night.message
    assert night.result().skipped == {"dangling link": 1, "link loop": 1}
    assert "skipped in the listing: 1 dangling link, 1 link loop" in night.result().describe()
    assert "deleted" not in {d["status"] for d in lake.read_table("documents").to_pylist()}


def test_a_file_that_kills_its_probe_task_costs_only_itself_then_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A probe task that dies (a parser crash kills the worker: KilledWorker) must not fail
    the run nor its chunk's other documents; after OCR_MAX_ATTEMPTS failed runs the file gets
    a final gave_up row."""
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    for name in ("a.png", "poison.png", "z.png"):
        write_document(src, name, [[f"Claim {name[0].upper()}-17"]])
    real = job.probe_chunk

    def dies_on_poison(source_uri: str, refs: list[SourceRef]) -> list[Probe]:
        if any(ref.key == "poison.png" for ref in refs):
            raise RuntimeError("worker killed while probing")  # as KilledWorker reaches the flow
        return real(source_uri, refs)

    monkeypatch.setattr(job, "probe_chunk", dies_on_poison)
    monkeypatch.setenv("OCR_MAX_ATTEMPTS", "2")

    def outcome() -> tuple[dict[str, str], dict[str, list[tuple[str, bool]]], Any]:
        lake = Lake.open(str(lake_dir))
        final: dict[str, str] = {}
        for d in sorted(lake.read_table("documents").to_pylist(), key=lambda d: d["ingested_at"]):
            final[Path(d["source_uri"]).name] = d["status"]
        errors: dict[str, list[tuple[str, bool]]] = {}
        for e in sorted(lake.read_table("errors").to_pylist(), key=lambda e: e["occurred_at"]):
            errors.setdefault(Path(e["source_uri"]).name, []).append((e["kind"], e["retryable"]))
        return final, errors, verify_lake(lake, open_store(str(src)))

    assert run_flow_in_process(str(src), str(lake_dir)).is_completed()
    docs, errors, report = outcome()
    assert docs == {"a.png": "ok", "poison.png": "error", "z.png": "ok"}  # its chunk-mates too
    assert errors == {"poison.png": [("batch_failed", True)]}
    assert report.ok and (report.processed, report.pending_retry) == (2, 1), report.describe()

    assert run_flow_in_process(str(src), str(lake_dir)).is_completed()  # failed run 2 of 2
    assert run_flow_in_process(str(src), str(lake_dir)).is_completed()  # gives up
    docs, errors, report = outcome()
    assert errors["poison.png"] == [("batch_failed", True)] * 2 + [("gave_up", False)]
    [gave_up] = [e for e in Lake.open(str(lake_dir)).read_table("errors").to_pylist()
                 if e["kind"] == "gave_up"]
    assert "failed in 2 runs (OCR_MAX_ATTEMPTS=2)" in gave_up["message"]
    assert "probe task failed: RuntimeError: worker killed" in gave_up["message"]
    assert report.ok and (report.processed, report.errored, report.pending_retry) == (2, 1, 0)
    again = run_flow_in_process(str(src), str(lake_dir))
    assert again.result().documents == 0  # nothing left to try
