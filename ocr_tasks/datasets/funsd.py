"""FUNSD folders: ``annotations/<id>.json`` (one ``{"form": [...]}`` page each) beside
``images/<id>.png``. Words with empty text (logos, signatures) come in as don't-care."""

from __future__ import annotations

from pathlib import Path

from ocr_tasks.core.errors import CorruptInput, InputError
from ocr_tasks.datasets.model import Images, Imported, LabelledPage, Problem, import_each
from ocr_tasks.truth import funsd_folder, parse_funsd

SOURCE = "funsd"


def import_funsd(folder: str | Path) -> Imported:
    try:
        images = dict(funsd_folder(folder))
    except InputError as e:
        return [], [Problem(str(folder), e.message)]
    found = Images()

    def read_one(ann: Path) -> Imported:
        image = images.get(ann)
        if image is None:
            raise CorruptInput(f"no image {ann.stem}.* in {ann.parent.parent / 'images'}")
        pages = parse_funsd(ann.read_bytes())
        if len(pages) != 1:
            raise CorruptInput(f"a FUNSD annotation is one page, this has {len(pages)}")
        page = LabelledPage(f"{SOURCE}:{ann.stem}", str(image), pages[0], SOURCE,
                            found.identity(image))
        return [page], []

    return import_each(Path(folder) / "annotations", "*.json", read_one)
