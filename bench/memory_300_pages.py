"""Peak memory of one worker OCR'ing a 300-page scanned PDF as a single batch.

Builds an A4 scan (150 dpi grayscale JPEG per page, a few lines of text each) page by page in a
temp folder, then runs probe -> plan -> ``run_batch`` in a child process with one intra-op
thread, exactly as a Dask worker would, while this process samples the child's RSS (and any
renderer it starts) with psutil. Pages stream one at a time, so the peak should not grow with
the page count. Prints pages/s, the peak RSS, and the RSS at 10/50/90 % of the run, then
checks the lake with ``verify``.

    .venv/bin/python bench/memory_300_pages.py [--pages 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

A4_PT = (595.28, 841.89)
SCAN_DPI = 150
LIMIT_MB = 1536  # the aim: at most 1.5 GB per worker process


def scan_page(index: int) -> bytes:
    """One grayscale 150-dpi A4 'scan' as JPEG bytes, with a few lines of text."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(
        os.path.join(matplotlib.get_data_path(), "fonts/ttf/DejaVuSans.ttf"), 28
    )
    w, h = round(A4_PT[0] / 72 * SCAN_DPI), round(A4_PT[1] / 72 * SCAN_DPI)
    image = Image.new("L", (w, h), 245)
    draw = ImageDraw.Draw(image)
    lines = [f"Claim CLM-2025-{index:04d}", "Insured: Maria Keller, Hauptstrasse 12",
             f"Amount EUR {index * 37 % 5000}.00", f"Page {index + 1}"]
    for i, line in enumerate(lines):
        draw.text((110, 150 + i * 80), line, font=font, fill=20)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=75)
    return buf.getvalue()


def write_scanned_pdf(path: Path, pages: int) -> None:
    """A PDF of JPEG page images, written one page at a time (never all pages in memory)."""
    offsets: dict[int, int] = {}
    with open(path, "wb") as f:
        f.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

        def obj(number: int, body: bytes) -> None:
            offsets[number] = f.tell()
            f.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

        kids = []
        for i in range(pages):
            page, content, img = 3 + 3 * i, 4 + 3 * i, 5 + 3 * i
            kids.append(b"%d 0 R" % page)
            jpeg = scan_page(i)
            w, h = round(A4_PT[0] / 72 * SCAN_DPI), round(A4_PT[1] / 72 * SCAN_DPI)
            obj(page, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
                      b"/Resources << /XObject << /Im0 %d 0 R >> >> >>" % (*A4_PT, content, img))
            draw = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % A4_PT
            obj(content, b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream")
            obj(img, b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace "
                     b"/DeviceGray /BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n"
                     % (w, h, len(jpeg)) + jpeg + b"\nendstream")
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(2, b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages)
        xref = f.tell()
        size = max(offsets) + 1
        f.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for n in range(1, size):
            f.write(b"%010d 00000 n \n" % offsets[n])
        f.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref))


def child(source: str, lake: str) -> None:
    """Worker side: probe the one document, plan it as one batch, run the batch."""
    from ocr_tasks.core.config import LimitSettings
    from ocr_tasks.io.storage import open_store
    from ocr_tasks.lake.sources import source_ref
    from ocr_tasks.pipeline.batch import run_batch
    from ocr_tasks.pipeline.discovery import probe_document
    from ocr_tasks.pipeline.planning import plan_batches

    store = open_store(source)
    [info] = list(store.list())
    probe = probe_document(store, source_ref(store, info), LimitSettings())
    [spec] = plan_batches([probe], batch_pages=probe.pages, run_id="bench-memory",
                          ingest_date=date.today().isoformat(), source_uri=source, lake_uri=lake)
    result = run_batch(spec)
    print(json.dumps({"pages": result.pages, "errors": result.errors, "seconds": result.seconds,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def tree_rss(proc: object) -> int:
    import psutil

    assert isinstance(proc, psutil.Process)
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> int:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    work = args.keep or Path(tempfile.mkdtemp(prefix="ocr-bench-mem-"))
    source, lake = work / "source", work / "lake"
    source.mkdir(parents=True, exist_ok=True)
    pdf = source / f"bundle-{args.pages}.pdf"
    t0 = time.perf_counter()
    write_scanned_pdf(pdf, args.pages)
    print(f"built {pdf} ({pdf.stat().st_size / 1e6:.1f} MB, {args.pages} pages) "
          f"in {time.perf_counter() - t0:.1f} s")

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    proc = psutil.Popen([sys.executable, __file__, "--child", str(source), str(lake)],
                        env=env, stdout=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    start = time.perf_counter()
    while proc.poll() is None:
        samples.append((time.perf_counter() - start, tree_rss(proc)))
        time.sleep(0.25)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        print(out, file=sys.stderr)
        return proc.returncode
    result = json.loads(out.strip().splitlines()[-1])
    peak = max(rss for _, rss in samples) / 2**20
    wall = samples[-1][0] if samples else 0.0
    at = {q: next((rss for t, rss in samples if t >= q * wall), 0) / 2**20 for q in (0.1, 0.5, 0.9)}
    print(
        f"pages OCR'd: {result['pages']} ({result['errors']} errors) in {result['seconds']:.0f} s "
        f"-> {result['pages'] / result['seconds']:.2f} pages/s (one process, one thread)"
    )
    print(
        f"peak RSS: {peak:.0f} MB sampled (worker + renderers), {result['maxrss_mb']:.0f} MB "
        f"ru_maxrss; RSS at 10/50/90 %: {at[0.1]:.0f} / {at[0.5]:.0f} / {at[0.9]:.0f} MB "
        f"(aim <= {LIMIT_MB} MB)"
    )

    from ocr_tasks.io.storage import open_store
    from ocr_tasks.lake.tables import Lake
    from ocr_tasks.lake.verify import verify_lake

    report = verify_lake(Lake.open(str(lake)), open_store(str(source)))
    print(report.describe())
    return 0 if report.ok and max(peak, result["maxrss_mb"]) <= LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
