"""Labelled datasets of pages for training and evaluating OCR models.

A dataset is pages (an image and its ``TruthPage``) from several sources, each with a split;
its card (``card.json``) says what it holds. Importers, one module each, read one format and
return ``(pages, problems)``:

* ``import_funsd``: FUNSD folders.
* ``import_via``: VGG Image Annotator 2.x projects.
* ``import_vott``: VoTT 2.x JSON exports.
* ``import_label_studio``: Label Studio OCR-template JSON exports.
* ``import_paddle_det`` / ``import_paddle_rec``: PaddleOCR ``Label.txt`` / ``rec_gt.txt``.
* ``import_audits`` / ``import_sidecars``: the lake's returned audits, customers' sidecars.

``datasets.synthetic.write_synthetic`` generates a dataset of synthetic pages (not imported
here: it loads the renderer and its fonts).

Layer: beside ``evaluation``, above ``synth`` (whose renderer the synthetic writer uses);
otherwise imports only ``truth``, ``document``, ``core``, ``io`` and ``page_image``.
"""

from __future__ import annotations

from pathlib import Path

from ocr_tasks.datasets.card import DatasetCard, build_card, character_histogram, write_card
from ocr_tasks.datasets.funsd import import_funsd
from ocr_tasks.datasets.label_studio import import_label_studio
from ocr_tasks.datasets.lake import import_audits, import_sidecars
from ocr_tasks.datasets.model import (
    SPLITS,
    Dataset,
    Imported,
    LabelledPage,
    Problem,
    read_pages,
    split_of,
    write_pages,
)
from ocr_tasks.datasets.paddle import import_paddle_det, import_paddle_rec
from ocr_tasks.datasets.via import import_via
from ocr_tasks.datasets.vott import import_vott


def write_dataset(dataset: Dataset, folder: str | Path, name: str) -> Path:
    """``pages.jsonl`` and ``card.json`` into ``folder``; returns the card's path."""
    write_pages(dataset.pages, Path(folder) / "pages.jsonl")
    return write_card(build_card(dataset, name), Path(folder) / "card.json")


__all__ = [
    "SPLITS", "Dataset", "DatasetCard", "Imported", "LabelledPage", "Problem", "build_card",
    "character_histogram", "import_audits", "import_funsd", "import_label_studio",
    "import_paddle_det", "import_paddle_rec", "import_sidecars", "import_via", "import_vott",
    "read_pages", "split_of", "write_card", "write_dataset", "write_pages",
]
