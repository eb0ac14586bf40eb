"""VGG Image Annotator 2.x projects (``via_project.json``) and their JSON annotation export.

A project is ``{"_via_settings": ..., "_via_img_metadata": {key: image}, "_via_attributes":
..., ...}``; "Export Annotations (as json)" writes the ``_via_img_metadata`` mapping alone.
Each image is ``{"filename", "size", "regions": [...], "file_attributes"}`` and each region
``{"shape_attributes": {...}, "region_attributes": {"text": ...}}`` where the shape is
``{"name": "rect", "x", "y", "width", "height"}`` or ``{"name": "polygon", "all_points_x",
"all_points_y"}`` in image pixels. The transcription is the region attribute named
``text_attribute`` (a project's own choice; ``text`` by default). Polygons become their
bounding boxes; other shapes (circle, ellipse, point, polyline) are reported and skipped.
Images are looked up relative to ``image_root`` (default: the project file's folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ocr_tasks.core.errors import CorruptInput
from ocr_tasks.core.geometry import Box
from ocr_tasks.datasets.model import (
    Images,
    Imported,
    LabelledPage,
    Problem,
    import_each,
    load_json,
    points_box,
    region_page,
    why,
)

SOURCE = "via"


def region_box(shape: Mapping[str, Any]) -> Box:
    """Pixel box of a VIA ``rect`` or ``polygon`` shape (ValueError for other shapes)."""
    name = shape.get("name")
    if name == "rect":
        x, y = float(shape["x"]), float(shape["y"])
        return (x, y, x + float(shape["width"]), y + float(shape["height"]))
    if name == "polygon":
        xs, ys = shape["all_points_x"], shape["all_points_y"]
        if len(xs) != len(ys):
            raise ValueError("all_points_x and all_points_y differ in length")
        return points_box(zip(xs, ys, strict=True))
    raise ValueError(f"unsupported region shape {name!r} (rect and polygon only)")


def import_via(path: str | Path, *, image_root: str | Path | None = None,
               text_attribute: str = "text") -> Imported:
    """Every VIA project (or annotation export) at ``path`` (a file, or a folder of them)."""
    images = Images()

    def read_one(file: Path) -> Imported:
        doc = load_json(file)
        if not isinstance(doc, Mapping):
            raise CorruptInput("a VIA project is a JSON object")
        metadata = doc.get("_via_img_metadata", doc)
        if not isinstance(metadata, Mapping) or not all(
                isinstance(v, Mapping) and "filename" in v for v in metadata.values()):
            raise CorruptInput('no "_via_img_metadata" with {"filename", "regions"} images')
        root = Path(image_root) if image_root is not None else file.parent
        pages: list[LabelledPage] = []
        problems: list[Problem] = []
        for key, meta in metadata.items():
            name = str(meta["filename"])
            image = images.find([root / name, root / PurePosixPath(name).name])
            if image is None:
                problems.append(Problem(str(file), f"{key}: image {name} not found in {root}"))
                continue
            raw = meta.get("regions") or []
            regions = raw.values() if isinstance(raw, Mapping) else raw  # VIA 1.x: a dict
            found: list[tuple[str, Box, str]] = []
            for i, region in enumerate(regions):
                try:
                    attrs = region.get("region_attributes") or {}
                    text = str(attrs.get(text_attribute) or "").strip()
                    found.append((text, region_box(region["shape_attributes"]), ""))
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    problems.append(Problem(str(file), f"{name} region {i}: {why(e)}"))
            pages.append(LabelledPage(f"{SOURCE}:{name}", str(image), region_page(found),
                                      SOURCE, images.identity(image)))
        return pages, problems

    return import_each(path, "*.json", read_one)
