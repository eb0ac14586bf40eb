"""One batch on a worker, driven in isolation: engine, stores and lake passed in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from ocr_tasks.core.config import EngineSettings, LimitSettings, PipelineSettings
from ocr_tasks.document import Line, Page, Word, box_polygon
from ocr_tasks.io.storage import LocalStore, file_content_id
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.page_image import PageImage
from ocr_tasks.pipeline.batch import run_batch
from ocr_tasks.pipeline.discovery import Probe
from ocr_tasks.pipeline.planning import BatchSpec, WorkItem

NOW = datetime(2026, 11, 28, tzinfo=UTC)
QUIET = PipelineSettings(canary_pages=0, audit_pages=0)


class CountingEngine:
    """Reads each page as one word: its mean pixel value, so different images differ."""

    model_version = "count-1"
    pages_per_call = 2

    def __init__(self) -> None:
        self.calls = 0

    def recognize_pages(self, pages: list[PageImage]) -> list[Page]:
        self.calls += 1
        out = []
        for p in pages:
            text = f"mean{int(p.image.mean())}"
            box = (0.0, 0.0, float(p.width), 20.0)
            word = Word(text, 0.9, box_polygon(box))
            out.append(Page(p.index, p.width, p.height, p.dpi,
                            (Line(text, 0.9, box_polygon(box), (word,)),),
                            model_version=self.model_version))
        return out


def document(folder: Path, name: str, shade: int) -> SourceRef:
    path = folder / name
    Image.fromarray(np.full((40, 60), shade, np.uint8)).save(path)
    return SourceRef(name, str(path), path.stat().st_size, NOW)


def spec_for(refs: list[tuple[SourceRef, str]], src: Path, lake: Path) -> BatchSpec:
    items = tuple(WorkItem(Probe(ref, doc_id, "png", 1), 0, 1) for ref, doc_id in refs)
    return BatchSpec("rtest-b0001", "run-test", "2026-11-28", str(src), str(lake), items)


def test_one_batch_commits_its_pages_with_the_engine_it_is_given(tmp_path: Path) -> None:
    src, lake_dir = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    refs = [document(src, f"d{i}.png", 40 * i) for i in range(3)]
    spec = spec_for([(r, file_content_id(Path(r.uri))) for r in refs], src, lake_dir)
    engine, lake = CountingEngine(), Lake.open(str(lake_dir))
    result = run_batch(spec, engine=engine, source=LocalStore(src), lake=lake,
                       engine_settings=EngineSettings(), limits=LimitSettings(), pipeline=QUIET)
    assert result.pages == 3 and result.errors == 0 and result.model_version == "count-1"
    assert engine.calls == 2  # pages_per_call=2: pages go to the engine two at a time
    pages = lake.read_table("pages", columns=["text", "model_version"]).to_pylist()
    assert sorted(p["text"] for p in pages) == ["mean0", "mean40", "mean80"]
    assert lake.is_committed("rtest-b0001")
    again = run_batch(spec, engine=engine, source=LocalStore(src), lake=lake, pipeline=QUIET)
    assert again.replayed and engine.calls == 2  # committed: not redone


def test_a_batch_runs_the_canaries_its_plan_allotted(tmp_path: Path) -> None:
    from dataclasses import replace

    src = tmp_path / "src"
    src.mkdir()
    refs = [document(src, f"d{i}.png", 40 * i) for i in range(2)]
    spec = spec_for([(r, file_content_id(Path(r.uri))) for r in refs], src, tmp_path / "lake")
    settings = PipelineSettings(canary_pages=2, audit_pages=0, canary_dpi=60)
    got = {}
    for allotted in (0, 1, None):  # None: by its own pages (2 pages: one)
        planned = replace(spec, batch_id=f"rtest-c{allotted}", canaries=allotted)
        got[allotted] = run_batch(planned, engine=CountingEngine(), source=LocalStore(src),
                                  lake=Lake.open(str(tmp_path / "lake")),
                                  pipeline=settings).canary_pages
    assert got == {0: 0, 1: 1, None: 1}


def test_a_document_replaced_after_probing_is_a_retryable_error(tmp_path: Path) -> None:
    src, lake_dir = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    kept, replaced = document(src, "kept.png", 10), document(src, "swapped.png", 20)
    probed_id = file_content_id(Path(replaced.uri))
    document(src, "swapped.png", 200)  # replaced between probe and OCR
    spec = spec_for([(kept, file_content_id(Path(kept.uri))), (replaced, probed_id)], src,
                    lake_dir)
    lake = Lake.open(str(lake_dir))
    result = run_batch(spec, engine=CountingEngine(), source=LocalStore(src), lake=lake,
                       pipeline=QUIET)
    assert result.pages == 1
    [error] = lake.read_table("errors").to_pylist()
    assert error["kind"] == "changed" and error["retryable"] and error["doc_id"] == probed_id
    docs = {d["source_uri"]: d["status"] for d in lake.read_table("documents").to_pylist()}
    assert docs == {kept.uri: "ok", replaced.uri: "error"}
