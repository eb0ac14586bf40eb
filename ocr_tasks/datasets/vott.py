"""VoTT 2.x "VoTT JSON" exports (``vott-json-export/<project>-export.json``).

The export is the project with ``"assets": {id: {"asset": {"name", "path", "size":
{"width", "height"}, ...}, "regions": [...]}}``; a region is ``{"type": "RECTANGLE" |
"POLYGON" | ..., "tags": [...], "boundingBox": {"left", "top", "width", "height"},
"points": [{"x", "y"}, ...]}`` in image pixels. VoTT has no free-text field: OCR projects
put the transcription in the region's tag, so the text is the tags joined by a space (no tag:
don't-care). The export copies the images beside the JSON (``image_root`` by default).
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

SOURCE = "vott"


def region_box(region: Mapping[str, Any]) -> Box:
    """The polygon's bounds for POLYGON regions, else the bounding box."""
    points = region.get("points") or []
    if region.get("type") == "POLYGON" and points:
        return points_box((p["x"], p["y"]) for p in points)
    if "boundingBox" in region:
        b = region["boundingBox"]
        x, y = float(b["left"]), float(b["top"])
        return (x, y, x + float(b["width"]), y + float(b["height"]))
    return points_box((p["x"], p["y"]) for p in points)


def import_vott(path: str | Path, *, image_root: str | Path | None = None) -> Imported:
    """Every VoTT export at ``path`` (a file, or a folder holding ``*export.json`` files)."""
    images = Images()

    def read_one(file: Path) -> Imported:
        doc = load_json(file)
        assets = doc.get("assets") if isinstance(doc, Mapping) else None
        if not isinstance(assets, Mapping):
            raise CorruptInput('a VoTT export has an "assets" object')
        root = Path(image_root) if image_root is not None else file.parent
        pages: list[LabelledPage] = []
        problems: list[Problem] = []
        for asset_id, entry in assets.items():
            try:
                asset = entry["asset"]
                name = str(asset["name"])
                size = asset.get("size") or {}
                width, height = int(size.get("width") or 0), int(size.get("height") or 0)
            except (KeyError, TypeError, ValueError) as e:
                problems.append(Problem(str(file), f"asset {asset_id}: {why(e)}"))
                continue
            on_source = PurePosixPath(str(asset.get("path", ""))).name  # "file:C:/.../x.png"
            image = images.find([root / name, root / on_source])
            if image is None:
                problems.append(Problem(str(file), f"asset {asset_id}: image {name} not found"
                                                   f" in {root}"))
                continue
            found: list[tuple[str, Box, str]] = []
            for i, region in enumerate(entry.get("regions") or []):
                try:
                    text = " ".join(str(t) for t in region.get("tags") or []).strip()
                    found.append((text, region_box(region), ""))
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    problems.append(Problem(str(file), f"{name} region {i}: {why(e)}"))
            pages.append(LabelledPage(f"{SOURCE}:{name}", str(image),
                                      region_page(found, width, height), SOURCE,
                                      images.identity(image)))
        return pages, problems

    return import_each(path, "*export.json", read_one)
