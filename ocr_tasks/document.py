"""The OCR output tree: Document > Page > Line > Word.

Frozen dataclasses so results can cross process boundaries (Dask) and be hashed/compared in
tests. Every element carries its geometry in pixel coordinates of the page image as given
(for PDFs: the page rendered at ``Page.dpi``): a polygon (4 points, clockwise from top-left,
possibly rotated) and the axis-aligned ``box`` = (x0, y0, x1, y1) around it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Geometry is owned by core.geometry; re-exported here, where the output tree's users look.
from ocr_tasks.core.geometry import Box, Point, Polygon, box_polygon, polygon_box

__all__ = [
    "Box", "Document", "Line", "Page", "Point", "Polygon", "Word", "box_polygon", "polygon_box",
]


def _r(v: float) -> float:
    return round(float(v), 2)


def _poly_to_list(polygon: Polygon) -> list[list[float]]:
    return [[_r(x), _r(y)] for x, y in polygon]


def _poly_from_list(data: list[list[float]]) -> Polygon:
    return tuple((float(x), float(y)) for x, y in data)


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float
    polygon: Polygon

    @property
    def box(self) -> Box:
        return polygon_box(self.polygon)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": round(float(self.confidence), 4),
            "box": [_r(v) for v in self.box],
            "polygon": _poly_to_list(self.polygon),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word:
        return cls(d["text"], float(d["confidence"]), _poly_from_list(d["polygon"]))


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float
    polygon: Polygon
    words: tuple[Word, ...] = ()

    @property
    def box(self) -> Box:
        return polygon_box(self.polygon)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": round(float(self.confidence), 4),
            "box": [_r(v) for v in self.box],
            "polygon": _poly_to_list(self.polygon),
            "words": [w.to_dict() for w in self.words],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Line:
        return cls(
            d["text"],
            float(d["confidence"]),
            _poly_from_list(d["polygon"]),
            tuple(Word.from_dict(w) for w in d.get("words", [])),
        )


@dataclass(frozen=True)
class Page:
    """One page's result. ``rotation`` is the clockwise rotation (0/90/180/270) the engine
    applied to make text upright; geometry is nevertheless reported in the input image's
    frame, so boxes can be drawn on the page exactly as delivered."""

    index: int
    width: int
    height: int
    dpi: float | None
    lines: tuple[Line, ...] = ()
    rotation: int = 0
    skew_angle: float = 0.0
    model_name: str = ""
    model_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    has_ink: bool = False  # the page has marks (dark pixels), whether or not text was read
    text_source: str = "ocr"  # 'ocr' (the engine read it) or 'pdf' (the PDF's text layer)

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for line in self.lines for w in line.words)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float:
        """Character-weighted mean line confidence. A page with no text is certain (1.0) when
        it is blank, and not at all (0.0) when it has ink the engine could not read (text
        too small, a strip, a photo): that page must go to review, not pass as empty."""
        total = sum(len(line.text) for line in self.lines)
        if total == 0:
            return 0.0 if self.has_ink else 1.0
        return sum(line.confidence * len(line.text) for line in self.lines) / total

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "width": self.width,
            "height": self.height,
            "dpi": self.dpi,
            "rotation": self.rotation,
            "skew_angle": round(float(self.skew_angle), 3),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "has_ink": self.has_ink,
            "text_source": self.text_source,
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "lines": [line.to_dict() for line in self.lines],
            "words": [w.to_dict() for w in self.words],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Page:
        return cls(
            index=int(d["index"]),
            width=int(d["width"]),
            height=int(d["height"]),
            dpi=d.get("dpi"),
            lines=tuple(Line.from_dict(line) for line in d.get("lines", [])),
            rotation=int(d.get("rotation", 0)),
            skew_angle=float(d.get("skew_angle", 0.0)),
            model_name=d.get("model_name", ""),
            model_version=d.get("model_version", ""),
            timings=dict(d.get("timings", {})),
            has_ink=bool(d.get("has_ink", False)),
            text_source=str(d.get("text_source", "ocr")),
        )


@dataclass(frozen=True)
class Document:
    source: str
    pages: tuple[Page, ...] = ()
    doc_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pages"] = [p.to_dict() for p in self.pages]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        return cls(
            source=d["source"],
            pages=tuple(Page.from_dict(p) for p in d.get("pages", [])),
            doc_id=d.get("doc_id", ""),
        )
