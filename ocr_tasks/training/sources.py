"""Where training data comes from: a FUNSD folder, a dataset folder, or a lake.

* ``funsd``: ``annotations/`` + ``images/`` (``datasets.import_funsd``).
* ``dataset``: a folder written by ``datasets.write_dataset`` (``pages.jsonl``); its recorded
  splits are kept unless fractions are given.
* a lake: its returned audit transcriptions (the customer's own pages), plus the sidecars of
  a source store when one is named.

Splits are by document (``datasets.split_of``), so adding data never moves a page.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ocr_tasks.core.errors import InputError
from ocr_tasks.datasets import (
    Dataset,
    Imported,
    import_audits,
    import_funsd,
    import_sidecars,
    read_pages,
    split_of,
)
from ocr_tasks.datasets.model import DEFAULT_FRACTIONS
from ocr_tasks.io.storage import open_store

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


def load_dataset(
    *, data: str | Path | None = None, fmt: str = "funsd", lake: str | None = None,
    sidecars: str | None = None, fractions: tuple[float, float, float] | None = None,
) -> Dataset:
    """The labelled pages of the given sources, split by document."""
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
        raise InputError("no training data: give --data DIR or --from-lake LAKE")
    shares = fractions or DEFAULT_FRACTIONS
    dataset = Dataset.of(*imports, fractions=shares)
    kept = [replace(p, split=split_of(p.document, shares)) if fractions or not p.split else p
            for found, _ in recorded for p in found]
    return Dataset((*dataset.pages, *kept), dataset.problems, shares)
