"""``ocr-pipeline ocr FILE...``: OCR images or PDFs and print the Document JSON.

The output is always a JSON list with one Document per file that could be read, in the order
given, also for a single file (until 0.1.0 one file gave a bare object). Boxes are pixel
coordinates of the image as given (PDF pages: rendered at ``--dpi``). Files and pages that
cannot be read are reported on stderr and left out; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

PAGES_PER_CALL = 8  # pages recognized together: shared recognizer batches, bounded memory


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ocr",
        help="OCR images or PDFs and print the Document JSON",
        description="OCR images or PDFs and print a JSON list with one Document (pages, "
        "lines, words, boxes, confidences) per file, also for a single file. PDF pages whose "
        "text layer covers them are read from it (OCR_PDF_TEXT=auto|use|ocr, default auto).",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="PNG, JPEG, TIFF or PDF")
    p.add_argument("--json", dest="json_out", type=Path, metavar="OUT",
                   help="write the JSON to this file (default: stdout)")
    p.add_argument("--dpi", type=int, help="PDF render resolution (default: OCR_ENGINE_DPI or 200)")
    p.add_argument("--backend", choices=["auto", "onnx", "torch"],
                   help="inference backend (default: OCR_ENGINE_BACKEND or 'auto')")
    p.add_argument("--threads", type=int, metavar="N",
                   help="intra-op threads (default: OCR_ENGINE_THREADS or 1)")
    p.set_defaults(func=run)


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(items, size)):
        yield chunk


def ocr_file(path: Path, engine: Any, dpi: int, pdf_text: str = "auto"
             ) -> tuple[Any, list[str]]:
    """The Document of one file and the messages of the pages that failed; PDF pages with a
    text layer follow ``OCR_PDF_TEXT`` as in the pipeline (``io.text_layer``)."""
    from ocr_tasks.core.config import LimitSettings
    from ocr_tasks.document import Document
    from ocr_tasks.io.rasterize import PageFailure, iter_pages
    from ocr_tasks.io.text_layer import layer_page

    pages: list[Any] = []
    failures: list[str] = []
    stream = iter_pages(path, dpi=dpi, limits=LimitSettings(), text_layer=pdf_text != "ocr")
    for chunk in _chunks(stream, PAGES_PER_CALL):
        images = []
        done = []
        for item in chunk:
            if isinstance(item, PageFailure):
                failures.append(
                    f"{path} page {item.index + 1}: {item.error.kind}: {item.error.message}"
                )
            elif (from_layer := layer_page(item, pdf_text)) is not None:
                done.append(from_layer)
            else:
                images.append(item)
        recognized = engine.recognize_pages(images) if images else []
        pages.extend(sorted([*done, *recognized], key=lambda p: p.index))
    return Document(source=str(path), pages=tuple(pages)), failures


def run(args: argparse.Namespace) -> int:
    from ocr_tasks.core.config import EngineSettings, PipelineSettings
    from ocr_tasks.core.errors import ExitCode, InputError
    from ocr_tasks.engine.predictor import get_engine

    overrides = {
        k: v for k, v in {"backend": args.backend, "threads": args.threads, "dpi": args.dpi}.items()
        if v is not None
    }
    settings = EngineSettings(**overrides)
    status = ExitCode.OK
    documents = []
    engine = get_engine(settings)
    pdf_text = PipelineSettings().pdf_text
    for path in args.files:
        try:
            document, failures = ocr_file(path, engine, settings.dpi, pdf_text)
        except InputError as e:
            print(f"error: {path}: {e.kind}: {e.message}", file=sys.stderr)
            status = ExitCode.FAILED
            continue
        for message in failures:
            print(f"error: {message}", file=sys.stderr)
            status = ExitCode.FAILED
        documents.append(document.to_dict())
    text = json.dumps(documents, indent=2, ensure_ascii=False) + "\n"  # a list, always
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return status
