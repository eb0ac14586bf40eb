"""Where training data comes from: a FUNSD folder, a dataset folder, or a lake.

* ``funsd``: ``annotations/`` + ``images/`` (``datasets.import_funsd``).
* ``dataset``: a folder written by ``datasets.write_dataset`` (``pages.jsonl``); its recorded
  splits are kept unless fractions are given.
* a lake: its returned audit transcriptions (the customer's own pages), plus the sidecars of
  a source store when one is named.
* synthetic pages (``ocr_tasks.synth``: scanned-looking claim forms, schedules and letters
  with exact truth), rendered into the work folder; they only ever train.

Splits are by document (``datasets.split_of``), so adding data never moves a page.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2

from ocr_tasks.core.errors import InputError
from ocr_tasks.datasets import (
    Dataset,
    Imported,
    LabelledPage,
    import_audits,
    import_funsd,
    import_sidecars,
    read_pages,
    split_of,
)
from ocr_tasks.datasets.model import DEFAULT_FRACTIONS
from ocr_tasks.io.storage import file_content_id, open_store
from ocr_tasks.synth import canary_seed, render_canary

SYNTH_SOURCE = "synth"

FORMATS = ("funsd", "dataset")


def parse_fractions(text: str) -> tuple[float, float, float]:
    """'0.8,0.2,0' -> (0.8, 0.2, 0.0): train, val and test shares."""
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--fractions {text!r}: three numbers like 0.8,0.2,0") from None
    if len(parts) != 3 or any(v < 0 for v in parts) or not sum(parts):
        raise InputError(f"--fractions {text!r}: three non-negative shares like 0.8,0.2,0")
    return parts[0], parts[1], parts[2]


def synthetic_pages(count: int, folder: Path, seed: int = 0) -> list[LabelledPage]:
    """``count`` rendered pages written as PNGs to ``folder``, all in the train split."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    for i in range(count):
        canary = render_canary(canary_seed(f"train-{seed}", i))
        path = folder / f"synth-{seed}-{i:05d}.png"
        if not path.is_file():
            cv2.imwrite(str(path), canary.page.image)
        pages.append(LabelledPage(f"{SYNTH_SOURCE}:{path.stem}", str(path), canary.truth,
                                  SYNTH_SOURCE, file_content_id(path), split="train"))
    return pages


def load_dataset(
    *, data: str | Path | None = None, fmt: str = "funsd", lake: str | None = None,
    sidecars: str | None = None, fractions: tuple[float, float, float] | None = None,
    synthetic: list[LabelledPage] | None = None, synthetic_only: bool = False,
) -> Dataset:
    """The labelled pages of the given sources, split by document; ``synthetic`` pages join
    the train split, and with ``synthetic_only`` they alone train (the others validate)."""
    imports: list[Imported] = []
    recorded: list[Imported] = []
    if data is not None:
        folder = Path(data)
        if not folder.is_dir():
            raise InputError(f"no dataset folder {folder}")
        if fmt == "funsd":
            imports.append(import_funsd(folder))
        elif fmt == "dataset":
            pages_file = folder / "pages.jsonl"
            if not pages_file.is_file():
                raise InputError(f"{folder} is not a dataset folder: no pages.jsonl")
            recorded.append((read_pages(pages_file), []))
        else:
            raise InputError(f"unknown --format {fmt!r}; expected one of {list(FORMATS)}")
    if lake is not None:
        imports.append(import_audits(open_store(lake)))
    if sidecars is not None:
        imports.append(import_sidecars(open_store(sidecars)))
    if not imports and not recorded:
        raise InputError("no labelled data: give --data DIR or --from-lake LAKE")
    shares = fractions or DEFAULT_FRACTIONS
    dataset = Dataset.of(*imports, fractions=shares)
    kept = [replace(p, split=split_of(p.document, shares)) if fractions or not p.split else p
            for found, _ in recorded for p in found]
    pages = [*dataset.pages, *kept]
    if synthetic_only:
        pages = [p for p in pages if p.split != "train"]
    return Dataset((*pages, *(synthetic or [])), dataset.problems, shares)
