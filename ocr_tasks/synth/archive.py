"""The bundled sample archive: a small, realistic customer drop that ``make run`` processes.

Scanned PDFs (JPEG and CCITT G4 pages), a multi-page G4 TIFF, PNG scans, JPEG phone photos,
a unicode file name and one truncated PDF, in dated subfolders, each document with
``<stem>.gt.txt`` and ``<stem>.gt.json`` ground-truth sidecars. Everything is a function of
the seed; PDF dates are pinned so the bytes are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ocr_tasks.synth.degrade import photo_profile, scan_profile
from ocr_tasks.synth.documents import DocSpec, RenderedPage, render_document
from ocr_tasks.truth import TruthPage, dump_funsd, dump_txt, sidecar_keys

# pinned PDF creation/modification date (PIL takes a struct_time)
PDF_DATE = datetime(2026, 11, 24, 9, 30, tzinfo=UTC).utctimetuple()


@dataclass(frozen=True)
class SamplePage:
    """One delivered page: pixels (gray or BGR) in the frame the customer sent, its truth in
    that frame, and how it was made."""

    image: np.ndarray
    truth: TruthPage
    dpi: int
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


def scanned(spec: DocSpec, seed: int, severity: float = 1.0, **overrides: Any) -> SamplePage:
    """A clean page put through the scan profile; ``overrides`` pin degradation parameters."""
    page = render_document(spec, seed)
    deg = scan_profile(page.image, random.Random(seed + 1), severity, rotation_probability=0.0,
                       overrides=overrides)
    return _degraded(page, deg.image, deg.matrix, deg.params)


def photographed(spec: DocSpec, seed: int, long_side: int, margin: float) -> SamplePage:
    """A clean page photographed with a phone (BGR, perspective, shadow)."""
    page = render_document(spec, seed)
    deg = photo_profile(page.image, random.Random(seed + 1), 1.0, out_long_side=long_side,
                        margin=margin, overrides={"jpeg_quality": 100})  # saved as JPEG once
    return _degraded(page, deg.image, deg.matrix, deg.params)


def _degraded(page: RenderedPage, image: np.ndarray, matrix: np.ndarray,
              params: dict[str, Any]) -> SamplePage:
    h, w = image.shape[:2]
    return SamplePage(image, page.truth.transformed(matrix, w, h), page.spec.dpi,
                      {"layout": page.spec.to_dict(), **params}, page.meta)


# --- pixels to PIL ----------------------------------------------------------------------------
def to_pil(image: np.ndarray) -> Image.Image:
    if image.ndim == 2:
        return Image.fromarray(image, "L")
    return Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), "RGB")


def to_bilevel(image: np.ndarray) -> Image.Image:
    """Black and white as a fax or a G4 archive scanner stores it (fixed threshold)."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return Image.fromarray(np.where(gray < 150, 0, 255).astype(np.uint8), "L").convert("1")


# --- writers --------------------------------------------------------------------------------
def write_pdf(path: Path, pages: list[SamplePage], *, bilevel: bool, quality: int = 60) -> None:
    """An image-only PDF: pages as JPEG (DCTDecode) or CCITT G4, page size from the dpi, so
    rendering at that dpi gives back the pixel frame of the ground truth."""
    images = [to_bilevel(p.image) if bilevel else to_pil(p.image) for p in pages]
    options: dict[str, Any] = {} if bilevel else {"quality": quality}
    images[0].save(
        path, "PDF", save_all=True, append_images=images[1:], resolution=float(pages[0].dpi),
        title=path.stem, producer="ocr-pipeline sample archive",
        creationDate=PDF_DATE, modDate=PDF_DATE, **options,
    )


def write_tiff(path: Path, pages: list[SamplePage]) -> None:
    images = [to_bilevel(p.image) for p in pages]
    dpi = (pages[0].dpi, pages[0].dpi)
    images[0].save(path, "TIFF", save_all=True, append_images=images[1:], compression="group4",
                   dpi=dpi)


def write_png(path: Path, pages: list[SamplePage], *, bilevel: bool = False) -> None:
    (page,) = pages
    image = to_bilevel(page.image) if bilevel else to_pil(page.image)
    image.save(path, "PNG", dpi=(page.dpi, page.dpi))


def write_jpeg(path: Path, pages: list[SamplePage], quality: int = 82) -> None:
    (page,) = pages
    to_pil(page.image).save(path, "JPEG", quality=quality)  # phones store no dpi that matters


def write_truth(path: Path, pages: list[SamplePage]) -> list[Path]:
    """``<stem>.gt.txt`` (page texts joined by form feed) and ``<stem>.gt.json`` (FUNSD; a
    ``{"pages": [...]}`` list for multi-page documents)."""
    json_name, txt_name = sidecar_keys(path.name)
    txt, js = path.with_name(txt_name), path.with_name(json_name)
    truths = [p.truth for p in pages]
    txt.write_text(dump_txt(truths), encoding="utf-8")
    js.write_text(dump_funsd(truths), encoding="utf-8")
    return [txt, js]


# --- the archive ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleFile:
    """One archive entry: where it goes, how its pages are made, how it is written."""

    path: str
    pages: Callable[[int], list[SamplePage]]
    write: Callable[[Path, list[SamplePage]], None]
    truth: bool = True


def _with_umlaut_name(spec: DocSpec, seed: int) -> int:
    """The first seed from ``seed`` whose policyholder's surname has an umlaut, so the
    unicode file name ("Schadenmeldung Müller.pdf") matches the document it names."""
    draft = replace(spec, dpi=36)  # the content does not depend on the dpi; pixels are cheap
    for s in range(seed, seed + 50):
        if set(render_document(draft, s).meta["name"].split()[-1]) & set("äöüÄÖÜ"):
            return s
    return seed


def sample_files(seed: int) -> list[SampleFile]:
    """The archive's table of contents (described file by file in samples/README.md)."""
    a4 = DocSpec
    de_claim = a4("claim_form", "de", "A4", "dejavu-serif", 11, 200)
    de_seed = _with_umlaut_name(de_claim, seed + 200)
    de_name = render_document(replace(de_claim, dpi=36), de_seed).meta["name"].split()[-1]

    def bundle(s: int) -> list[SamplePage]:
        return [
            scanned(a4("claim_form", "en", "A4", "dejavu-sans", 11, 200), s + 1),
            scanned(a4("letter", "en", "A4", "dejavu-serif", 11, 200), s + 2, rotation_cw=90),
            scanned(a4("policy_schedule", "en", "A4", "dejavu-sans", 10, 200), s + 3),
        ]

    def schadenmeldung(s: int) -> list[SamplePage]:
        return [
            scanned(de_claim, de_seed, grayscale=True, salt_pepper=0.0003, noise_std=3.0),
            scanned(a4("letter", "de", "A4", "stix", 12, 200), s + 2, grayscale=True,
                    salt_pepper=0.0003, noise_std=3.0),
        ]

    def tiff(s: int) -> list[SamplePage]:
        return [
            scanned(a4("policy_schedule", "de", "A4", "dejavu-sans", 10.5, 200), s + 1,
                    grayscale=True, salt_pepper=0.0002),
            scanned(a4("letter", "de", "A4", "dejavu-serif", 11, 200), s + 2, grayscale=True,
                    salt_pepper=0.0002),
            scanned(a4("policy_schedule", "en", "Letter", "stix", 11, 200), s + 3,
                    grayscale=True, salt_pepper=0.0002),
        ]

    return [
        SampleFile("2026-11-24/claims/CLM-2026-004711/claim_bundle.pdf", bundle,
                   lambda p, pages: write_pdf(p, pages, bilevel=False)),
        SampleFile(f"2026-11-24/claims/Schadenmeldung {de_name}.pdf", schadenmeldung,
                   lambda p, pages: write_pdf(p, pages, bilevel=True)),
        SampleFile("2026-11-24/policies/policy_schedules_2026-11.tif", tiff, write_tiff),
        SampleFile("2026-11-24/letters/scan_0001.png",
                   lambda s: [scanned(a4("letter", "en", "Letter", "dejavu-sans", 11, 150), s,
                                      grayscale=True, noise_std=2.0, salt_pepper=0.0)],
                   lambda p, pages: write_png(p, pages)),
        SampleFile("2026-11-25/claims/scan_0002_upside_down.png",
                   lambda s: [scanned(a4("claim_form", "de", "A4", "dejavu-sans", 11, 150), s,
                                      rotation_cw=180)],
                   lambda p, pages: write_png(p, pages, bilevel=True)),
        SampleFile("2026-11-25/claims/fax_0003_lowres.png",
                   lambda s: [scanned(a4("claim_form", "en", "A4", "dejavu-mono", 11, 100), s,
                                      grayscale=True)],
                   lambda p, pages: write_png(p, pages, bilevel=True)),
        SampleFile("2026-11-25/photos/IMG_20261125_091233.jpg",
                   lambda s: [photographed(a4("id_card", "de", "ID-1", "dejavu-sans", 8, 300),
                                           s, 1600, 0.18)],
                   write_jpeg),
        SampleFile("2026-11-25/photos/IMG_20261125_091512.jpg",
                   lambda s: [photographed(a4("letter", "en", "A4", "dejavu-serif", 11, 150),
                                           s, 2000, 0.06)],
                   write_jpeg),
        SampleFile("2026-11-25/uploads/claim_upload_incomplete.pdf",
                   lambda s: [scanned(a4("claim_form", "en", "A4", "dejavu-sans", 11, 150), s)],
                   _write_truncated_pdf, truth=False),
    ]


def _write_truncated_pdf(path: Path, pages: list[SamplePage]) -> None:
    """The deliberately broken file: an upload cut off mid-stream (no xref, no %%EOF)."""
    write_pdf(path, pages, bilevel=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])


def make_sample_archive(out_dir: Path, seed: int = 7) -> list[Path]:
    """Write the sample archive under ``out_dir``; returns every file written (documents and
    sidecars), sorted."""
    written: list[Path] = []
    for i, entry in enumerate(sample_files(seed)):
        path = out_dir / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        pages = entry.pages(seed * 1000 + i * 10)
        entry.write(path, pages)
        written.append(path)
        if entry.truth:
            written.extend(write_truth(path, pages))
    return sorted(written)
