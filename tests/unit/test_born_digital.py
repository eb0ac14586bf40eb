"""Born-digital PDF pages are read from their own text layer, scans are OCR'd (real PDFs
written by fpdf2, rendered and read by PDFium, checked against poppler's pdftotext)."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ocr_tasks.core.config import EngineSettings, LimitSettings, PipelineSettings
from ocr_tasks.document import Line, Page, Word, box_polygon
from ocr_tasks.io.rasterize import iter_pages
from ocr_tasks.io.storage import LocalStore, file_content_id
from ocr_tasks.io.text_layer import LAYER_MODEL, layer_page
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.page_image import PageImage
from ocr_tasks.pipeline.batch import run_batch
from ocr_tasks.pipeline.discovery import Probe
from ocr_tasks.pipeline.planning import BatchSpec, WorkItem
from ocr_tasks.synth.archive import write_pdf
from ocr_tasks.synth.born_digital import write_born_digital_pdf, write_scan_with_layer

NOW = datetime(2026, 11, 28, tzinfo=UTC)
TEXT = [["Invoice 2026-4711", "Müller GmbH, Hauptstraße 5", "", "Total EUR 1.234,50"],
        ["Page two: payment due 2026-12-31"]]


class CountingEngine:
    """Reads every page as one word, counting the pages it was given."""

    model_version = "count-1"
    pages_per_call = 4

    def __init__(self) -> None:
        self.pages = 0

    def recognize_pages(self, pages: list[PageImage]) -> list[Page]:
        self.pages += len(pages)
        box = (10.0, 10.0, 50.0, 30.0)
        return [Page(p.index, p.width, p.height, p.dpi,
                     (Line("scan", 0.9, box_polygon(box), (Word("scan", 0.9,
                                                                box_polygon(box)),)),),
                     model_version=self.model_version) for p in pages]


def scan(text: str = "SCANNED LETTER") -> np.ndarray:
    im = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
    draw = ImageDraw.Draw(im)
    for row in range(12):
        draw.text((120, 150 + 60 * row), f"{text} line {row}", fill=0, font_size=36)
    return np.asarray(im)


def scanned_pdf(path: Path) -> Path:
    from ocr_tasks.synth.archive import SamplePage
    from ocr_tasks.truth import TruthPage

    write_pdf(path, [SamplePage(scan(), TruthPage(), 150)], bilevel=False)
    return path


def test_layer_words_and_boxes_are_the_pdfs_own(tmp_path: Path) -> None:
    pdf = tmp_path / "born.pdf"
    write_born_digital_pdf(pdf, TEXT)
    got = list(iter_pages(pdf, dpi=200, limits=LimitSettings(), text_layer=True))
    pages = [layer_page(p, "auto") for p in got if isinstance(p, PageImage)]
    assert [p.text.split("\n") if p else None for p in pages] == [
        [line for line in TEXT[0] if line], TEXT[1]]
    first = pages[0]
    assert first is not None and first.text_source == "pdf"
    assert first.model_version == LAYER_MODEL and first.confidence == 1.0
    # poppler finds the same words at the same places (its boxes are the font's, ours the ink's)
    xml = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"],
                         check=True, capture_output=True, text=True).stdout
    theirs = [(m[4], [float(v) * 200 / 72 for v in m[:4]]) for m in re.findall(
        r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]+)<', xml)]
    ours = [(w.text, w.box) for w in first.words]
    assert [t for t, _ in theirs] == [t for t, _ in ours]
    for (_, (x0, y0, x1, y1)), (_, (a0, b0, a1, b1)) in zip(theirs, ours, strict=True):
        assert abs(a0 - x0) < 4 and abs(a1 - x1) < 4  # side bearings only
        assert y0 - 2 <= b0 < b1 <= y1 + 2  # the ink lies within the font's line box


def test_text_layer_is_not_read_unless_asked(tmp_path: Path) -> None:
    pdf = tmp_path / "born.pdf"
    write_born_digital_pdf(pdf, TEXT[:1])
    (page,) = iter_pages(pdf, dpi=100, limits=LimitSettings())
    assert isinstance(page, PageImage) and page.text_layer is None


def run(tmp_path: Path, mode: str, files: dict[str, Path]) -> tuple[list[dict], CountingEngine]:
    src = tmp_path / "src"
    items = []
    for name, path in files.items():
        ref = SourceRef(name, str(path), path.stat().st_size, NOW)
        n = len(list(iter_pages(path, dpi=72, limits=LimitSettings())))
        items.append(WorkItem(Probe(ref, file_content_id(path), "pdf", n), 0, n))
    lake = Lake.open(str(tmp_path / f"lake-{mode}"))
    spec = BatchSpec("rtest-b0001", "run-test", "2026-11-28", str(src), lake.uri, tuple(items))
    engine = CountingEngine()
    run_batch(spec, engine=engine, source=LocalStore(src), lake=lake,
              engine_settings=EngineSettings(dpi=100), limits=LimitSettings(),
              pipeline=PipelineSettings(canary_pages=0, audit_pages=0, pdf_text=mode))
    rows = lake.read_table("pages", columns=["doc_id", "page", "text", "text_source",
                                             "model_version", "confidence"]).to_pylist()
    by_id = {file_content_id(p): n for n, p in files.items()}
    return sorted(({**r, "file": by_id[r["doc_id"]]} for r in rows),
                  key=lambda r: (r["file"], r["page"])), engine


@pytest.fixture
def archive(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    born, scanned, mixed = src / "born.pdf", src / "scan.pdf", src / "mixed.pdf"
    write_born_digital_pdf(born, TEXT)
    scanned_pdf(scanned)
    write_scan_with_layer(mixed, [scan("STAMPED SCAN")], 150, "Received 2026-11-24")
    return {"born.pdf": born, "mixed.pdf": mixed, "scan.pdf": scanned}


def test_auto_reads_born_digital_pages_from_their_layer_and_ocrs_scans(
        tmp_path: Path, archive: dict[str, Path]) -> None:
    rows, engine = run(tmp_path, "auto", archive)
    got = [(r["file"], r["page"], r["text_source"]) for r in rows]
    assert got == [("born.pdf", 0, "pdf"), ("born.pdf", 1, "pdf"), ("mixed.pdf", 0, "ocr"),
                   ("scan.pdf", 0, "ocr")]
    assert engine.pages == 2  # the scan and the scan with a partial layer only
    born = [r for r in rows if r["file"] == "born.pdf"]
    assert [r["text"] for r in born] == ["\n".join(line for line in page if line)
                                         for page in TEXT]
    assert {r["model_version"] for r in born} == {LAYER_MODEL}
    assert {r["confidence"] for r in born} == {1.0}


def test_use_takes_any_layer_and_ocr_ignores_them(tmp_path: Path,
                                                  archive: dict[str, Path]) -> None:
    rows, engine = run(tmp_path, "use", archive)
    assert [(r["file"], r["text_source"]) for r in rows] == [
        ("born.pdf", "pdf"), ("born.pdf", "pdf"), ("mixed.pdf", "pdf"), ("scan.pdf", "ocr")]
    assert [r["text"] for r in rows if r["file"] == "mixed.pdf"] == ["Received 2026-11-24"]
    assert engine.pages == 1
    rows, engine = run(tmp_path, "ocr", archive)
    assert {r["text_source"] for r in rows} == {"ocr"} and engine.pages == 4
