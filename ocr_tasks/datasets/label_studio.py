"""Label Studio JSON exports of the OCR template (``Image`` + ``Rectangle``/``Polygon`` +
``Labels`` + a per-region ``TextArea``).

The export is a list of tasks ``{"data": {"ocr": <image url>}, "annotations": [{"result":
[...]}]}``. The results of one region share its ``id``: the shape (``type`` ``rectangle`` /
``rectanglelabels`` / ``polygon`` / ``polygonlabels``), the ``labels`` and the ``textarea``
whose ``value.text`` holds the transcription (the textarea repeats the geometry). Geometry is
in percent of the image: ``value.x``, ``y``, ``width``, ``height`` with ``rotation`` in
degrees clockwise about the top-left corner, or ``value.points`` as ``[[x, y], ...]``;
``original_width`` and ``original_height`` turn it into pixels. Polygons and rotated
rectangles become their bounding boxes.

The first annotation of a task that was not cancelled is its truth (predictions are model
output, never truth). Images resolve under ``image_root`` (default: the export's folder): the
``?d=`` path of local-files URLs, else the URL's file name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

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

SOURCE = "label-studio"
SHAPES = ("rectangle", "rectanglelabels", "polygon", "polygonlabels", "textarea")
IMAGE_KEYS = ("ocr", "image", "img")


def region_box(value: Mapping[str, Any], width: float, height: float) -> Box:
    """Pixel box of a Label Studio rectangle or polygon value (percent of the image)."""
    sx, sy = width / 100.0, height / 100.0
    if "points" in value:
        return points_box((float(x) * sx, float(y) * sy) for x, y in value["points"])
    x, y = float(value["x"]) * sx, float(value["y"]) * sy
    w, h = float(value["width"]) * sx, float(value["height"]) * sy
    angle = math.radians(float(value.get("rotation") or 0.0))
    if not angle:
        return (x, y, x + w, y + h)
    cos, sin = math.cos(angle), math.sin(angle)  # clockwise on screen (y down)
    corners = [(x + dx * cos - dy * sin, y + dx * sin + dy * cos)
               for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    return points_box(corners)


def image_name(url: str) -> list[str]:
    """Where a task's image may be, relative to the image root, most specific first."""
    parsed = urlparse(url)
    local = parse_qs(parsed.query).get("d")
    names = [unquote(local[0])] if local else []
    names.append(PurePosixPath(unquote(parsed.path)).name)
    return names


def _truth_result(task: Mapping[str, Any]) -> Sequence[Mapping[str, Any]] | None:
    for annotation in task.get("annotations") or []:
        if not annotation.get("was_cancelled"):
            return annotation.get("result") or []
    return None


def import_label_studio(path: str | Path, *, image_root: str | Path | None = None,
                        image_key: str | None = None) -> Imported:
    """Every Label Studio JSON export at ``path`` (a file, or a folder of ``*.json``)."""
    images = Images()

    def read_one(file: Path) -> Imported:
        doc = load_json(file)
        tasks = doc if isinstance(doc, list) else [doc]
        if not all(isinstance(t, Mapping) and isinstance(t.get("data"), Mapping) for t in tasks):
            raise CorruptInput('a Label Studio export is a list of tasks with "data"')
        root = Path(image_root) if image_root is not None else file.parent
        pages: list[LabelledPage] = []
        problems: list[Problem] = []
        for n, task in enumerate(tasks):
            where = f"task {task.get('id', n)}"
            data = task["data"]
            key = image_key or next((k for k in IMAGE_KEYS if k in data), None)
            url = str(data.get(key, "")) if key else ""
            image = images.find(root / name for name in image_name(url)) if url else None
            if image is None:
                problems.append(Problem(str(file), f"{where}: image {url or '(none)'} not found"
                                                   f" under {root}"))
                continue
            result = _truth_result(task)
            if result is None:
                problems.append(Problem(str(file), f"{where}: no annotation (only cancelled"
                                                   " ones or predictions)"))
                continue
            regions, trouble = _regions(result)
            problems.extend(Problem(str(file), f"{where}: {t}") for t in trouble)
            size = next(((int(r["original_width"]), int(r["original_height"])) for r in result
                         if "original_width" in r and "original_height" in r), (0, 0))
            pages.append(LabelledPage(f"{SOURCE}:{image.name}", str(image),
                                      region_page(regions, *size), SOURCE,
                                      images.identity(image)))
        return pages, problems

    return import_each(path, "*.json", read_one)


def _regions(result: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[str, Box, str]], list[str]]:
    """(text, box, label) per region id, in the order regions first appear; and what could
    not be read."""
    order: list[str] = []
    boxes: dict[str, Box] = {}
    texts: dict[str, str] = {}
    labels: dict[str, str] = {}
    trouble: list[str] = []
    for item in result:
        rid, kind = str(item.get("id", "")), str(item.get("type", ""))
        value = item.get("value") or {}
        if rid not in order:
            order.append(rid)
        try:
            if kind in SHAPES and rid not in boxes and ("x" in value or "points" in value):
                boxes[rid] = region_box(value, float(item["original_width"]),
                                        float(item["original_height"]))
            if kind == "textarea":
                texts[rid] = " ".join(str(t) for t in value.get("text") or []).strip()
            for name in ("labels", "rectanglelabels", "polygonlabels"):
                if value.get(name):
                    labels.setdefault(rid, str(value[name][0]))
        except (KeyError, TypeError, ValueError) as e:
            trouble.append(f"region {rid}: {why(e)}")
    regions = [(texts.get(r, ""), boxes[r], labels.get(r, "")) for r in order if r in boxes]
    trouble.extend(f"region {r}: a transcription without a shape" for r in order
                   if r not in boxes and r in texts)
    return regions, trouble
