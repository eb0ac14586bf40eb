"""Exports per document: written under the batch's keys, visible only once committed, and
each file right: a searchable PDF/A poppler reads words from where the OCR boxes are, hOCR
and ALTO that validate, the Document JSON."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pikepdf
import pydantic
import pytest
from PIL import Image, ImageDraw

from ocr_tasks.core.config import EngineSettings, LimitSettings, PipelineSettings
from ocr_tasks.core.errors import LeaseLost
from ocr_tasks.document import Document, Line, Page, Word, box_polygon
from ocr_tasks.exports import alto, hocr
from ocr_tasks.io.storage import LocalStore, file_content_id
from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from ocr_tasks.page_image import PageImage
from ocr_tasks.pipeline.batch import run_batch
from ocr_tasks.pipeline.discovery import Probe
from ocr_tasks.pipeline.planning import BatchSpec, WorkItem

NOW = datetime(2026, 11, 28, tzinfo=UTC)
ALL = "pdf,hocr,alto,json"
# lines drawn on the scan; the engine below reports each word with its drawn box (150 dpi)
LINES = [("Invoice 4711 dated 2026-11-24", (100, 100)), ("Müller EUR 1.234,50", (100, 300))]
WORDS = [w for line, _ in LINES for w in line.split()]
DPI = 150


def draw_scan() -> tuple[np.ndarray, list[tuple[str, tuple[float, float, float, float]]]]:
    im = Image.new("L", (1000, 600), 255)
    draw = ImageDraw.Draw(im)
    boxes = []
    for line, (x, y) in LINES:
        draw.text((x, y), line, fill=0, font_size=48)
        for i, word in enumerate(line.split(" ")):
            left = x + draw.textlength(" ".join(line.split(" ")[:i] + [""]), font_size=48)
            x0, y0, x1, y1 = draw.textbbox((left, y), word, font_size=48)
            boxes.append((word, (float(x0), float(y0), float(x1), float(y1))))
    return np.asarray(im), boxes


class KnownEngine:
    """Returns the words drawn on the scan, with their drawn boxes: what a perfect OCR gives."""

    model_version = "known-1"
    pages_per_call = 2

    def __init__(self, words: list[tuple[str, tuple[float, float, float, float]]]) -> None:
        self.words = words

    def recognize_pages(self, pages: list[PageImage]) -> list[Page]:
        lines = []
        for row in sorted({b[1] // 100 for _, b in self.words}):  # lines are 200 px apart
            ws = tuple(Word(t, 0.93, box_polygon(b)) for t, b in self.words
                       if b[1] // 100 == row)
            box = (min(w.box[0] for w in ws), min(w.box[1] for w in ws),
                   max(w.box[2] for w in ws), max(w.box[3] for w in ws))
            lines.append(Line(" ".join(w.text for w in ws), 0.93, box_polygon(box), ws))
        return [Page(p.index, p.width, p.height, p.dpi, tuple(lines),
                     model_version=self.model_version) for p in pages]


@pytest.fixture
def scan_archive(tmp_path: Path) -> tuple[Path, list, Path]:
    src = tmp_path / "src"
    src.mkdir()
    image, boxes = draw_scan()
    path = src / "scan.pdf"
    Image.fromarray(image).save(path, "PDF", resolution=float(DPI), save_all=True,
                                append_images=[Image.fromarray(image)])
    return src, boxes, path


def spec_for(src: Path, lake: Lake, path: Path, pages: int = 2) -> BatchSpec:
    ref = SourceRef(path.name, str(path), path.stat().st_size, NOW)
    item = WorkItem(Probe(ref, file_content_id(path), "pdf", pages), 0, pages)
    return BatchSpec("rtest-b0001", "run-test", "2026-11-28", str(src), lake.uri, (item,))


def ingest(src: Path, boxes: list, path: Path, lake: Lake, exports: str = ALL) -> None:
    run_batch(spec_for(src, lake, path), engine=KnownEngine(boxes), source=LocalStore(src),
              lake=lake, engine_settings=EngineSettings(dpi=DPI), limits=LimitSettings(),
              pipeline=PipelineSettings(canary_pages=0, audit_pages=0, exports=exports))


def test_exports_are_committed_with_the_batch_and_named_in_documents(
        tmp_path: Path, scan_archive: tuple[Path, list, Path]) -> None:
    src, boxes, path = scan_archive
    lake = Lake.open(str(tmp_path / "lake"))
    ingest(src, boxes, path, lake)
    (doc,) = lake.read_table("documents", columns=["doc_id", "exports", "status"]).to_pylist()
    doc_id = doc["doc_id"]
    assert doc["status"] == "ok"
    assert sorted(doc["exports"]) == sorted(
        f"exports/ingest_date=2026-11-28/rtest-b0001/{doc_id}{s}"
        for s in (".pdf", ".hocr", ".alto.xml", ".json"))
    assert lake.committed_exports() == sorted(doc["exports"])
    assert all(lake.store.exists(k) for k in doc["exports"])
    assert verify_lake(lake).ok
    files = {k.rsplit(".", 1)[-1]: lake.store.get(k) for k in doc["exports"]}

    # the searchable PDF: poppler finds every word, its box on the word's OCR box
    pdf = tmp_path / "out.pdf"
    pdf.write_bytes(files["pdf"])
    xml = subprocess.run(["pdftotext", "-bbox", "-f", "2", "-l", "2", str(pdf), "-"],
                         check=True, capture_output=True, text=True).stdout
    found = {m[4]: [float(v) * DPI / 72 for v in m[:4]] for m in re.findall(
        r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]+)<', xml)}
    assert sorted(found) == sorted(WORDS)
    for text, (x0, y0, x1, y1) in boxes:
        a0, b0, a1, b1 = found[text]
        inter = max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0))
        union = (x1 - x0) * (y1 - y0) + (a1 - a0) * (b1 - b0) - inter
        assert inter / union > 0.6, (text, (x0, y0, x1, y1), found[text])
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert text.split("\n")[:3] == ["Invoice 4711 dated 2026-11-24", "",
                                     "Müller EUR 1.234,50"]  # reading order, phrase search
    # and a searchable PDF coming back is read from its layer, with the same words
    from ocr_tasks.io.rasterize import iter_pages
    from ocr_tasks.io.text_layer import layer_page

    again = [layer_page(p, "auto") for p in iter_pages(pdf, dpi=DPI, limits=LimitSettings(),
                                                        text_layer=True)
             if isinstance(p, PageImage)]
    assert [[w.text for w in p.words] if p else None for p in again] == [WORDS, WORDS]
    with pikepdf.open(pdf) as opened:
        assert len(opened.pages) == 2
        meta = opened.open_metadata()
        assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("2", "B")

    # hOCR and ALTO validate; an independent hOCR parser (OCRmyPDF's) reads the same words
    assert hocr.check(files["hocr"]) == [] and alto.check(files["xml"]) == []
    from ocrmypdf.hocrtransform import HocrParser

    hocr_file = tmp_path / "out.hocr"
    hocr_file.write_bytes(files["hocr"])
    parsed = HocrParser(hocr_file).parse()
    assert [w.text for line in parsed.lines for w in line.children] == WORDS
    document = Document.from_dict(json.loads(files["json"]))
    assert document.doc_id == doc_id and [p.index for p in document.pages] == [0, 1]
    assert document.pages[0].words[0].text == "Invoice"


def test_an_uncommitted_batch_has_no_visible_exports_and_its_files_are_swept(
        tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path / "lake"))
    ctx = BatchContext("run-dead", "rrundead-b0001", "2026-11-28", "m1")

    def lose() -> None:
        raise LeaseLost("lease lost")

    with pytest.raises(LeaseLost):
        lake.write_batch(ctx, {"documents": []}, exports={"d1.hocr": b"<html/>"},
                         before_visible=lose)
    key = "exports/ingest_date=2026-11-28/rrundead-b0001/d1.hocr"
    assert lake.store.exists(key) and lake.committed_exports() == []
    assert [p.kind for p in verify_lake(lake).problems] == ["uncommitted_file"]
    assert lake.sweep_run("run-dead", "2026-11-28") == [key]
    assert not lake.store.exists(key) and verify_lake(lake).ok

    # committed: listed once however often it is retried; a missing file is a problem
    for _ in range(2):
        lake.write_batch(ctx, {"documents": []}, exports={"d1.hocr": b"<html/>"})
    assert lake.committed_exports() == [key]
    assert lake.sweep_run("run-dead", "2026-11-28") == []
    lake.store.delete(key)
    assert [p.kind for p in verify_lake(lake).problems] == ["export_missing"]


def test_no_exports_by_default_and_unknown_names_refused(
        tmp_path: Path, scan_archive: tuple[Path, list, Path]) -> None:
    src, boxes, path = scan_archive
    lake = Lake.open(str(tmp_path / "lake"))
    ingest(src, boxes, path, lake, exports="")
    assert lake.read_table("documents", columns=["exports"]).to_pylist() == [{"exports": None}]
    assert not list(lake.store.list("exports/"))
    assert PipelineSettings(exports=" PDF, alto,pdf").export_formats == ("pdf", "alto")
    with pytest.raises(pydantic.ValidationError, match="unknown export docx"):
        PipelineSettings(exports="pdf,docx")


def test_a_renderer_that_fails_costs_only_that_file(
        tmp_path: Path, scan_archive: tuple[Path, list, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ocr_tasks.exports.pdf

    def broken(document: Document, images: object) -> bytes:
        raise ValueError("font table damaged")

    monkeypatch.setattr(ocr_tasks.exports.pdf, "to_pdf", broken)
    src, boxes, path = scan_archive
    lake = Lake.open(str(tmp_path / "lake"))
    ingest(src, boxes, path, lake, exports="pdf,json")
    (doc,) = lake.read_table("documents", columns=["status", "exports"]).to_pylist()
    assert doc["status"] == "ok" and [k.rsplit(".", 1)[1] for k in doc["exports"]] == ["json"]
    (error,) = lake.read_table("errors", columns=["kind", "message", "retryable"]).to_pylist()
    assert error["kind"] == "export_failed" and not error["retryable"]
    assert "pdf export failed: ValueError: font table damaged" in error["message"]
    assert verify_lake(lake).ok
