"""Born-digital pages and exports on a mixed archive: time saved, text equal to the layer's,
exports that validate and a PDF whose words lie on the OCR boxes.

    .venv/bin/python bench/born_digital.py [--out DIR] [--alto-xsd alto-4-4.xsd]

Writes a mixed archive to DIR/src (scanned PDFs, born-digital PDFs written by fpdf2, a scan
with a stamped partial text layer), then OCRs it as one batch with the real engine
(canaries off): with ``OCR_PDF_TEXT=ocr`` (every page OCR'd), ``auto`` (born-digital pages
read from their layer), and ``auto`` with every export on. All ratios come from this one run.
``--alto-xsd`` (with ``--xlink-xsd``, the XLink schema it imports) validates the ALTO files
against that schema file too (xmlschema).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ocr_tasks.core.config import EngineSettings, LimitSettings, PipelineSettings
from ocr_tasks.exports import alto, hocr
from ocr_tasks.io.storage import LocalStore, file_content_id
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.pipeline.batch import run_batch
from ocr_tasks.pipeline.discovery import Probe
from ocr_tasks.pipeline.planning import BatchSpec, WorkItem
from ocr_tasks.synth.archive import scanned, write_pdf
from ocr_tasks.synth.born_digital import write_born_digital_pdf, write_scan_with_layer
from ocr_tasks.synth.documents import DocSpec, render_document

NOW = datetime(2026, 11, 28, tzinfo=UTC)
KINDS = ("letter", "claim_form", "policy_schedule")
WORD = re.compile(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<')


def make_archive(src: Path) -> dict[str, str]:
    """Files by kind: 2 scanned PDFs (2 pages each), 3 born-digital PDFs (2 pages each),
    1 scan with a stamped text line (2 pages)."""
    kinds: dict[str, str] = {}
    for d in ("scans", "born", "mixed"):
        (src / d).mkdir(parents=True, exist_ok=True)
    for i in range(2):
        pages = [scanned(DocSpec(KINDS[(i + j) % 3], "en", "A4", "dejavu-sans", 11, 200),
                         10 * i + j) for j in range(2)]
        write_pdf(src / f"scans/scan_{i}.pdf", pages, bilevel=False)
        kinds[f"scans/scan_{i}.pdf"] = "scan"
    for i in range(3):
        pages = []
        for j in range(2):
            page = render_document(DocSpec(KINDS[(i + j) % 3], "de" if i == 1 else "en"),
                                   100 + 10 * i + j)
            pages.append([text for text, _ in page.truth.reading_lines()])
        write_born_digital_pdf(src / f"born/statement_{i}.pdf", pages)
        kinds[f"born/statement_{i}.pdf"] = "born-digital"
    scans = [scanned(DocSpec("letter", "en", "A4", "dejavu-serif", 11, 200), 300 + j).image
             for j in range(2)]
    write_scan_with_layer(src / "mixed/stamped_scan.pdf", scans, 200,
                          "Received 2026-11-24 by the claims office")
    kinds["mixed/stamped_scan.pdf"] = "scan + partial layer"
    return kinds


def spec(src: Path, lake: Lake, kinds: dict[str, str]) -> BatchSpec:
    items = []
    for key in kinds:
        path = src / key
        n = int(re.search(r"Pages:\s+(\d+)", subprocess.run(
            ["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout)[1])
        ref = SourceRef(key, str(path), path.stat().st_size, NOW)
        items.append(WorkItem(Probe(ref, file_content_id(path), "pdf", n), 0, n))
    return BatchSpec("rbench-b0001", "run-bench", "2026-11-28", str(src), lake.uri,
                     tuple(items))


def poppler_words(pdf: Path, page: int) -> list[tuple[str, list[float]]]:
    out = subprocess.run(["pdftotext", "-bbox", "-f", str(page + 1), "-l", str(page + 1),
                          str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [(m[4], [float(v) for v in m[:4]]) for m in WORD.findall(out)]


def unescape(text: str) -> str:
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace(
        "&quot;", '"').replace("&apos;", "'")


def iou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1],
                                                                                      b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def extraction_speed(src: Path, kinds: dict[str, str]) -> tuple[float, float]:
    """Median ms per page to get words with boxes: PDFium (in process) and poppler's
    ``pdftotext -bbox-layout`` (a process per page, as a worker would run it)."""
    import pypdfium2 as pdfium

    from ocr_tasks.io.text_layer import extract_words

    ours, theirs = [], []
    for key, kind in kinds.items():
        if kind != "born-digital":
            continue
        pdf = pdfium.PdfDocument(str(src / key))
        for i in range(len(pdf)):
            page = pdf[i]
            t0 = time.perf_counter()
            extract_words(page, 1654, 2339)
            ours.append(time.perf_counter() - t0)
            page.close()
            t0 = time.perf_counter()
            subprocess.run(["pdftotext", "-bbox-layout", "-f", str(i + 1), "-l", str(i + 1),
                            str(src / key), "-"], capture_output=True, check=True)
            theirs.append(time.perf_counter() - t0)
        pdf.close()
    return statistics.median(ours) * 1000, statistics.median(theirs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder (default: a temp dir)")
    parser.add_argument("--alto-xsd", type=Path, default=None, help="ALTO v4 schema file")
    parser.add_argument("--xlink-xsd", type=Path, default=None,
                        help="the XLink schema ALTO imports (loc.gov's; e.g. the copy in the "
                        "ocrd-validators wheel)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="born-digital-"))
    src = out / "src"
    kinds = make_archive(src)
    from ocr_tasks.engine.predictor import get_engine

    engine = get_engine(EngineSettings())
    from ocr_tasks.page_image import PageImage

    engine.recognize_pages([PageImage(np.full((200, 300, 3), 255, np.uint8))])  # warm up
    seconds: dict[str, float] = {}
    lakes: dict[str, Lake] = {}
    for name, mode, exports in (("ocr", "ocr", ""), ("auto", "auto", ""),
                                ("auto+exports", "auto", "pdf,hocr,alto,json")):
        lake = Lake.open(str(out / f"lake-{name.replace('+', '-')}"))
        settings = PipelineSettings(canary_pages=0, audit_pages=0, pdf_text=mode,
                                    exports=exports)
        t0 = time.perf_counter()
        run_batch(spec(src, lake, kinds), engine=engine, source=LocalStore(src), lake=lake,
                  engine_settings=EngineSettings(), limits=LimitSettings(), pipeline=settings)
        seconds[name] = time.perf_counter() - t0
        lakes[name] = lake
    pages = lakes["auto"].read_table("pages", columns=["doc_id", "page", "text_source",
                                                      "t_rasterize_ms"]).to_pylist()
    docs = {d["doc_id"]: d for d in lakes["auto+exports"].read_table(
        "documents", columns=["doc_id", "source_uri", "exports"]).to_pylist()}
    by_source: dict[str, int] = {}
    for p in pages:
        by_source[p["text_source"]] = by_source.get(p["text_source"], 0) + 1
    wrong_source = [p for p in pages if (kinds[docs[p["doc_id"]]["source_uri"].split(
        "/src/", 1)[1]] == "born-digital") != (p["text_source"] == "pdf")]
    print(f"archive: {len(kinds)} PDFs, {len(pages)} pages; text_source {by_source}; "
          f"pages whose source is not the expected one: {len(wrong_source)}")
    print(f"one batch, OCR_PDF_TEXT=ocr : {seconds['ocr']:.1f} s")
    print(f"one batch, OCR_PDF_TEXT=auto: {seconds['auto']:.1f} s "
          f"(saved {seconds['ocr'] - seconds['auto']:.1f} s, "
          f"{100 * (1 - seconds['auto'] / seconds['ocr']):.0f} %)")
    n_pdf = by_source.get("pdf", 0)
    if n_pdf:
        per_ocr = seconds["ocr"] / len(pages)
        layer_ms = statistics.median(p["t_rasterize_ms"] for p in pages
                                     if p["text_source"] == "pdf")
        print(f"per page: OCR {per_ocr:.2f} s (mean, ocr run); layer page render + words "
              f"{layer_ms:.0f} ms (median)")
    # text equal to the layer's: our words against poppler's, page by page
    equal = total = 0
    words = lakes["auto"].read_table("words", columns=["doc_id", "page", "line", "word",
                                                      "text"]).to_pylist()
    for p in pages:
        if p["text_source"] != "pdf":
            continue
        uri = docs[p["doc_id"]]["source_uri"]
        ours = [w["text"] for w in sorted(words, key=lambda w: (w["line"], w["word"]))
                if w["doc_id"] == p["doc_id"] and w["page"] == p["page"]]
        theirs = [unescape(t) for t, _ in poppler_words(Path(uri), p["page"])]
        total += 1
        equal += ours == theirs
    print(f"layer pages whose words equal pdftotext's, in order: {equal} / {total}")
    ms_pdfium, ms_poppler = extraction_speed(src, kinds)
    print(f"words with boxes per page: PDFium {ms_pdfium:.1f} ms, "
          f"pdftotext -bbox-layout {ms_poppler:.1f} ms (median)")
    print(f"one batch, auto + exports pdf,hocr,alto,json: {seconds['auto+exports']:.1f} s")
    export_cost(lakes["auto+exports"], docs)
    check_exports(lakes["auto+exports"], docs, args.alto_xsd, args.xlink_xsd)


def export_cost(lake: Lake, docs: dict) -> None:
    """Each renderer timed alone on the run's documents (the batch times above are too noisy
    on a shared machine to show a cost of this size)."""
    import json

    from ocr_tasks.document import Document
    from ocr_tasks.exports import render
    from ocr_tasks.exports.pdf import page_jpeg
    from ocr_tasks.io.rasterize import iter_pages
    from ocr_tasks.page_image import PageImage

    spent = {"jpeg": 0.0, "pdf": 0.0, "hocr": 0.0, "alto": 0.0, "json": 0.0}
    pages = 0
    for doc in docs.values():
        key = next(k for k in doc["exports"] if k.endswith(".json"))
        document = Document.from_dict(json.loads(lake.store.get(key)))
        images = {}
        for image in iter_pages(Path(doc["source_uri"]), dpi=200, limits=LimitSettings()):
            assert isinstance(image, PageImage)
            t0 = time.perf_counter()
            images[image.index] = page_jpeg(image.image)
            spent["jpeg"] += time.perf_counter() - t0
        pages += len(images)
        for fmt in ("pdf", "hocr", "alto", "json"):
            t0 = time.perf_counter()
            render(document, (fmt,), images)
            spent[fmt] += time.perf_counter() - t0
    print(f"export cost, {len(docs)} documents, {pages} pages: " + ", ".join(
        f"{name} {total:.2f} s" for name, total in spent.items())
        + f"; {sum(spent.values()) / pages:.2f} s per page in all")


def check_exports(lake: Lake, docs: dict, xsd: Path | None, xlink: Path | None) -> None:
    """Validate every export; search the PDFs for the OCR'd words and compare boxes."""
    schema = None
    if xsd is not None:  # its xlink import resolved to a local file: nothing downloaded
        import xmlschema

        schema = xmlschema.XMLSchema(str(xsd), locations=[("http://www.w3.org/1999/xlink",
                                                            str(xlink))])
    bad_hocr = bad_alto = bad_xsd = 0
    ious: list[float] = []
    missing = centred = 0
    words = lake.read_table("words", columns=["doc_id", "page", "text", "x0", "y0", "x1",
                                              "y1"]).to_pylist()
    pages = {(p["doc_id"], p["page"]): p for p in lake.read_table(
        "pages", columns=["doc_id", "page", "dpi", "text_source"]).to_pylist()}
    with tempfile.TemporaryDirectory() as tmp:
        for doc_id, doc in docs.items():
            files = {k.rsplit(".", 1)[-1]: lake.store.get(k) for k in doc["exports"] or ()}
            bad_hocr += bool(hocr.check(files["hocr"]))
            bad_alto += bool(alto.check(files["xml"]))
            if schema is not None:
                bad_xsd += not schema.is_valid(files["xml"].decode())
            pdf = Path(tmp) / f"{doc_id}.pdf"
            pdf.write_bytes(files["pdf"])
            for (d, page), info in pages.items():
                if d != doc_id:
                    continue
                found: dict[str, list[list[float]]] = {}
                for text, box in poppler_words(pdf, page):
                    found.setdefault(unescape(text), []).append(
                        [v * info["dpi"] / 72 for v in box])
                for w in words:
                    if w["doc_id"] != doc_id or w["page"] != page:
                        continue
                    box = [w["x0"], w["y0"], w["x1"], w["y1"]]
                    hits = found.get(w["text"])
                    if not hits:
                        missing += 1
                        continue
                    best = max(hits, key=lambda h: iou(box, h))
                    ious.append(iou(box, best))
                    cx, cy = (best[0] + best[2]) / 2, (best[1] + best[3]) / 2
                    centred += box[0] <= cx <= box[2] and box[1] <= cy <= box[3]
    print(f"exports: {len(docs)} documents; hOCR problems in {bad_hocr}, ALTO problems in "
          f"{bad_alto}" + (f", ALTO invalid against {xsd.name}: {bad_xsd}" if schema else ""))
    print(f"searchable PDFs: {len(ious)} of {len(ious) + missing} words found by pdftotext; "
          f"box IoU with the word's lake box: median {statistics.median(ious):.2f}, "
          f">= 0.5 for {100 * np.mean(np.array(ious) >= 0.5):.0f} %; centre inside the lake box "
          f"for {100 * centred / max(1, len(ious)):.1f} %")


if __name__ == "__main__":
    main()
