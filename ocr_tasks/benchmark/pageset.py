"""The benchmark's pages: generated documents with known text, and FUNSD-format folders.

A generated set is a folder of mixed documents as a customer delivers them (JPEG-scanned
PDFs of several pages, CCITT G4 PDFs and TIFFs, PNG and JPEG images; claim forms, policy
schedules and letters at 150-300 dpi), each with its ``.gt.json`` sidecar, so the full flow
ingests exactly these files and scores them as it would a customer's. It is a pure function of
``(pages, seed)`` and is reused when already present.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ocr_tasks.core.config import LimitSettings
from ocr_tasks.datasets.model import DEFAULT_FRACTIONS, split_of
from ocr_tasks.io import rasterize
from ocr_tasks.io.storage import file_content_id
from ocr_tasks.page_image import PageImage
from ocr_tasks.synth.archive import (
    SamplePage,
    scanned,
    write_jpeg,
    write_pdf,
    write_png,
    write_tiff,
)
from ocr_tasks.synth.documents import random_spec
from ocr_tasks.truth import (
    SIDECAR_PDF_DPI,
    TruthPage,
    dump_funsd,
    funsd_folder,
    is_sidecar,
    parse_funsd,
    sidecar_keys,
)

DPIS = (150, 200, 300)
Writer = Callable[[Path, list[SamplePage]], None]
# (suffix, pages per document, writer, format sniffed by the pipeline)
CONTAINERS: tuple[tuple[str, int, Writer, str], ...] = (
    (".pdf", 3, lambda p, pages: write_pdf(p, pages, bilevel=False), "pdf"),
    (".png", 1, lambda p, pages: write_png(p, pages), "png"),
    ("-g4.pdf", 2, lambda p, pages: write_pdf(p, pages, bilevel=True), "pdf"),
    (".jpg", 1, write_jpeg, "jpeg"),
    (".tif", 2, write_tiff, "tiff"),
)


@dataclass(frozen=True)
class BenchDoc:
    """One file of a page set and the truth of its pages in the frame they are rasterized
    in (PDFs at the engine's render dpi, images at their own pixels)."""

    path: Path
    fmt: str
    truths: tuple[TruthPage, ...]
    dpi: int = 0  # the resolution the document was made at (0: unknown, e.g. FUNSD)

    @property
    def pages(self) -> int:
        return len(self.truths)


def _render_doc(folder: Path, name: str, seed: int, n_pages: int, dpis: Sequence[int],
                suffix: str, writer: Writer) -> None:
    """Pages of one A4 document (one dpi per document, as a scanner is set), written as
    ``<name>-<dpi>dpi<suffix>`` with its ``.gt.json`` sidecar."""
    dpi = random.Random(seed).choice(list(dpis))
    pages = [
        scanned(replace(random_spec(random.Random(seed * 7 + k), dpi=dpi), paper="A4"),
                seed * 7 + k)
        for k in range(n_pages)
    ]
    path = folder / f"{name}-{dpi}dpi{suffix}"
    writer(path, pages)
    is_pdf = path.suffix == ".pdf"
    # PDF sidecars are in the 200-dpi frame (truth.SIDECAR_PDF_DPI), images in their pixels
    truths = [p.truth.scaled(SIDECAR_PDF_DPI / p.dpi) if is_pdf else p.truth for p in pages]
    sidecar = path.with_name(sidecar_keys(path.name)[0])
    sidecar.write_text(dump_funsd(truths), encoding="utf-8")


def make_synth_set(folder: Path, pages: int, seed: int = 0,
                   dpis: Sequence[int] = DPIS) -> None:
    """Write ``pages`` pages of mixed documents under ``folder`` (skipped when a complete set
    of these parameters is already there)."""
    done = folder / ".complete"
    if done.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    made = doc = 0
    while made < pages:
        suffix, per_doc, writer, _ = CONTAINERS[doc % len(CONTAINERS)]
        n = min(per_doc, pages - made)
        _render_doc(folder, f"doc{doc:04d}", seed * 100_000 + doc, n, dpis, suffix, writer)
        made += n
        doc += 1
    done.touch()


def synth_docs(folder: Path, render_dpi: int) -> list[BenchDoc]:
    """The documents of a generated set with their truth in the rasterized frame."""
    docs: list[BenchDoc] = []
    for path in sorted(folder.iterdir()):
        fmt = next((f for s, _, _, f in CONTAINERS if path.name.endswith(s)), None)
        if fmt is None or is_sidecar(path.name):
            continue
        sidecar = path.with_name(sidecar_keys(path.name)[0])
        truths = parse_funsd(sidecar.read_bytes())
        if fmt == "pdf":
            truths = [t.scaled(render_dpi / SIDECAR_PDF_DPI) for t in truths]
        made = re.search(r"-(\d+)dpi", path.name)
        docs.append(BenchDoc(path, fmt, tuple(truths), int(made.group(1)) if made else 0))
    return docs


def funsd_docs(folder: Path, limit: int | None = None, split: str | None = None,
               fractions: Sequence[float] = DEFAULT_FRACTIONS) -> list[BenchDoc]:
    """The first ``limit`` pages of a FUNSD-format folder, one document per page; with
    ``split``, only the pages that ``ocr-pipeline train --fractions`` puts in that split
    (the same rule: ``datasets.split_of`` of the image's content id), so a model trained on
    the folder is measured on pages it never saw."""
    docs: list[BenchDoc] = []
    for ann, image in funsd_folder(folder):
        if image is None:
            continue
        if split is not None and split_of(file_content_id(image), fractions) != split:
            continue
        if limit is not None and len(docs) >= limit:
            break
        docs.append(BenchDoc(image, "png", tuple(parse_funsd(ann.read_bytes()))))
    return docs


def pages_of(doc: BenchDoc, render_dpi: int) -> Iterator[PageImage]:
    """The document's pages as the pipeline rasterizes them (``io.rasterize``)."""
    for got in rasterize.iter_pages(doc.path, dpi=render_dpi, limits=LimitSettings(),
                                    stop=doc.pages, fmt=doc.fmt, name=str(doc.path)):
        if isinstance(got, rasterize.PageFailure):
            raise got.error
        yield got

