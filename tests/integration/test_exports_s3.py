"""Exports on an S3 lake (SeaweedFS on loopback): committed with their batch, invisible and
swept when the batch never commits, the searchable PDF readable from the bucket."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from ocr_tasks.core.config import EngineSettings, LimitSettings, PipelineSettings
from ocr_tasks.core.errors import LeaseLost
from ocr_tasks.exports import alto, hocr
from ocr_tasks.io.storage import LocalStore, open_store
from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from ocr_tasks.pipeline.batch import run_batch
from tests.s3server import S3Server
from tests.unit.test_exports import DPI, WORDS, KnownEngine, draw_scan, spec_for


@pytest.fixture
def lake(s3_endpoint: S3Server) -> Lake:
    bucket = s3_endpoint.make_bucket()
    return Lake(open_store(f"s3://{bucket}/{uuid.uuid4().hex[:8]}/lake", s3_endpoint.settings()))


def test_exports_on_an_s3_lake(tmp_path: Path, lake: Lake) -> None:
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    image, boxes = draw_scan()
    path = src / "scan.pdf"
    Image.fromarray(image).save(path, "PDF", resolution=float(DPI))
    run_batch(spec_for(src, lake, path, pages=1), engine=KnownEngine(boxes),
              source=LocalStore(src), lake=lake, engine_settings=EngineSettings(dpi=DPI),
              limits=LimitSettings(),
              pipeline=PipelineSettings(canary_pages=0, audit_pages=0,
                                        exports="pdf,hocr,alto,json"))
    (doc,) = lake.read_table("documents", columns=["exports"]).to_pylist()
    assert len(doc["exports"]) == 4 and lake.committed_exports() == sorted(doc["exports"])
    files = {k.rsplit(".", 1)[-1]: lake.store.get(k) for k in doc["exports"]}
    assert hocr.check(files["hocr"]) == [] and alto.check(files["xml"]) == []
    pdf = tmp_path / "from-bucket.pdf"
    pdf.write_bytes(files["pdf"])
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert text.split() == WORDS
    assert verify_lake(lake).ok


def test_an_uncommitted_batch_on_s3_leaves_nothing_visible(lake: Lake) -> None:
    ctx = BatchContext("run-gone", "rrungone-b0001", "2026-11-28", "m1")

    def lose() -> None:
        raise LeaseLost("lease lost")

    with pytest.raises(LeaseLost):
        lake.write_batch(ctx, {"documents": []}, exports={"d.json": b"{}"},
                         before_visible=lose)
    assert lake.committed_exports() == []
    assert lake.sweep_run("run-gone", "2026-11-28") == [
        "exports/ingest_date=2026-11-28/rrungone-b0001/d.json"]
    assert not list(lake.store.list("exports/"))
