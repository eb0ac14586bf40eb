"""Synthetic labelled pages at training scale, written as a dataset folder.

Page ``i`` of seed ``S`` is a pure function of ``(S, i)`` (its own seed is a hash of both)
and of the font families installed (the card lists them), so a set of 10,000 pages starts
with the same pages as a set of 100, and workers may render pages in any order. Each page
is a random ``training_spec`` (six document kinds, every installed font family, hand-filled
values, stamps) rendered by ``synth.documents`` and, with ``augment``, put through a
label-exact ``synth.augment`` recipe.

The folder holds ``images/<index>.png``, ``pages.jsonl`` (``LabelledPage`` lines, as
``write_pages`` writes them), ``recipes.jsonl`` (per page: its seed, layout and augmentation
recipe, enough to render it again) and ``card.json``. Pages stream to disk and into a
``CardTally``: memory does not grow with the number of pages.

A page's document identity is the hash of its seed, not of its pixels: a page and every
augmentation of it share a split, so no variant of a test page is ever trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from ocr_tasks.core.errors import InputError
from ocr_tasks.datasets.card import CardTally, DatasetCard, write_card
from ocr_tasks.datasets.model import DEFAULT_FRACTIONS, LabelledPage, split_of, write_pages
from ocr_tasks.synth.augment import augment, steps_used
from ocr_tasks.synth.documents import render_document, training_spec
from ocr_tasks.synth.fonts import installed_families

SOURCE = "synthetic"
GENERATOR_FORMAT = "ocr-synth/1"
IMAGE_FORMATS = {  # suffix -> OpenCV writer options
    "png": [cv2.IMWRITE_PNG_COMPRESSION, 3],  # lossless; zlib 3 is near 9's size, far faster
    "jpg": [cv2.IMWRITE_JPEG_QUALITY, 95],  # noisy augmented pages: a third of the bytes
}


def page_seed(seed: int, index: int) -> int:
    """The seed of page ``index`` of a set, stable across processes and machines."""
    digest = hashlib.sha256(f"{GENERATOR_FORMAT}:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def document_identity(seed_of_page: int) -> str:
    return hashlib.sha256(f"{GENERATOR_FORMAT}:page:{seed_of_page}".encode()).hexdigest()


@dataclass(frozen=True)
class SynthJob:
    """What to generate (picklable: workers get a copy)."""

    folder: Path
    seed: int
    augment: bool = False
    strength: float = 1.0
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    image_format: str = "png"


def make_page(job: SynthJob, index: int) -> tuple[LabelledPage, dict[str, Any]]:
    """Render page ``index``, write its PNG, and return its labelled page and recipe."""
    own_seed = page_seed(job.seed, index)
    rng = random.Random(own_seed)
    spec = training_spec(rng)
    page = render_document(spec, rng)
    image, truth, recipe = page.image, page.truth, None
    if job.augment:
        done = augment(image, truth, random.Random(own_seed ^ 0xA0617E), job.strength)
        image, truth, recipe = done.image, done.truth, done.params
    path = job.folder / "images" / f"{index:06d}.{job.image_format}"
    if not cv2.imwrite(str(path), image, IMAGE_FORMATS[job.image_format]):
        raise OSError(f"cannot write {path}")
    document = document_identity(own_seed)
    labelled = LabelledPage(
        page_id=f"{SOURCE}:{job.seed}:{index:06d}", image=str(path),
        truth=truth, source=f"{SOURCE}/{spec.kind}", document=document,
        split=split_of(document, job.fractions),
    )
    return labelled, {"page_id": labelled.page_id, "page_seed": own_seed,
                      "layout": spec.to_dict(), "augment": recipe}


def _make_chunk(job: SynthJob, indices: range) -> list[tuple[LabelledPage, dict[str, Any]]]:
    return [make_page(job, i) for i in indices]


def _pages(job: SynthJob, count: int, workers: int,
           chunk: int = 8) -> Iterator[tuple[LabelledPage, dict[str, Any]]]:
    """Pages in index order; with workers, a bounded number of chunks in flight."""
    if workers <= 1:
        for i in range(count):
            yield make_page(job, i)
        return
    chunks = [range(s, min(s + chunk, count)) for s in range(0, count, chunk)]
    with ProcessPoolExecutor(workers) as pool:
        pending = [pool.submit(_make_chunk, job, c) for c in chunks[: 2 * workers]]
        next_chunk = len(pending)
        while pending:
            yield from pending.pop(0).result()
            if next_chunk < len(chunks):
                pending.append(pool.submit(_make_chunk, job, chunks[next_chunk]))
                next_chunk += 1


class _Generated:
    """What the card says about how the pages were made."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.families: Counter[str] = Counter()
        self.steps: Counter[str] = Counter()
        self.handwritten = self.stamped = 0

    def add(self, recipe: dict[str, Any]) -> None:
        layout = recipe["layout"]
        self.kinds[layout["kind"]] += 1
        self.families[layout["font_family"]] += 1
        self.handwritten += bool(layout.get("hand_font"))
        self.stamped += bool(layout.get("stamp"))
        self.steps.update(steps_used(recipe["augment"] or {}))

    def to_dict(self, job: SynthJob, count: int) -> dict[str, Any]:
        return {
            "format": GENERATOR_FORMAT, "seed": job.seed, "pages": count,
            "augment": job.augment, "strength": job.strength if job.augment else None,
            "image_format": job.image_format,
            "document_identity": f"sha256('{GENERATOR_FORMAT}:page:' + page seed): a page"
                                 " and its augmentations share a split",
            "kinds": dict(sorted(self.kinds.items())),
            "font_families": dict(sorted(self.families.items())),
            "installed_font_families": [f.name for f in installed_families()],
            "handwritten_pages": self.handwritten, "stamped_pages": self.stamped,
            "augmentations": dict(sorted(self.steps.items())),
        }  # fmt: skip


def write_synthetic(
    folder: str | Path, pages: int, seed: int, *, augment: bool = False,
    strength: float = 1.0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    name: str | None = None, workers: int = 1, image_format: str = "png",
    on_page: Callable[[LabelledPage], None] | None = None,
) -> DatasetCard:
    """Generate ``pages`` labelled pages into ``folder`` (absent or empty: nothing is ever
    overwritten) and write their card; returns it."""
    out = Path(folder).resolve()
    if pages < 1:
        raise InputError(f"the number of pages must be at least 1, not {pages}")
    if image_format not in IMAGE_FORMATS:
        raise InputError(f"image format {image_format!r} is not one of {sorted(IMAGE_FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} is not an empty folder: choose a new one")
    (out / "images").mkdir(parents=True, exist_ok=True)
    job = SynthJob(out, seed, augment, strength, fractions, image_format)
    tally, generated = CardTally(), _Generated()

    def stream(recipes: Any) -> Iterator[LabelledPage]:
        for labelled, recipe in _pages(job, pages, workers):
            recipes.write(json.dumps(recipe, ensure_ascii=False) + "\n")
            generated.add(recipe)
            if on_page is not None:
                on_page(labelled)
            yield tally.add(labelled)

    with (out / "recipes.jsonl").open("w", encoding="utf-8") as recipes:
        write_pages(stream(recipes), out / "pages.jsonl")
    card = tally.card(name or out.name, fractions, generator=generated.to_dict(job, pages))
    write_card(card, out / "card.json")
    return card
