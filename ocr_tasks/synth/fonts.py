"""Fonts that exist wherever matplotlib is installed, so rendering never needs system fonts.

Canaries and samples use only the matplotlib-bundled DejaVu and STIX faces: the same seed must
give the same pixels on a laptop, a CI runner and a worker image. Debian's Liberation/DejaVu
files are offered as optional extra variety for ad-hoc data sets only.

Fonts load with PIL's BASIC layout engine: with libraqm present, PIL would otherwise shape
text differently and break pixel determinism across machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
from PIL import ImageFont

MATPLOTLIB_TTF_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
SYSTEM_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/truetype/dejavu"),
)

# face name -> file in matplotlib's font folder
CORE_FACES: dict[str, str] = {
    "sans": "DejaVuSans.ttf",
    "sans-bold": "DejaVuSans-Bold.ttf",
    "sans-italic": "DejaVuSans-Oblique.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif-bold": "DejaVuSerif-Bold.ttf",
    "serif-italic": "DejaVuSerif-Italic.ttf",
    "mono": "DejaVuSansMono.ttf",
    "mono-bold": "DejaVuSansMono-Bold.ttf",
    "stix": "STIXGeneral.ttf",
    "stix-bold": "STIXGeneralBol.ttf",
    "stix-italic": "STIXGeneralItalic.ttf",
}

FontRef = str | Path  # a core face name or a font file


@dataclass(frozen=True)
class FontFamily:
    """The faces one document uses: body text, emphasis (headers, labels) and a fixed-width
    face for values typed into forms."""

    name: str
    regular: FontRef
    bold: FontRef
    italic: FontRef
    mono: FontRef = "mono"


FAMILIES: tuple[FontFamily, ...] = (
    FontFamily("dejavu-sans", "sans", "sans-bold", "sans-italic"),
    FontFamily("dejavu-serif", "serif", "serif-bold", "serif-italic"),
    FontFamily("stix", "stix", "stix-bold", "stix-italic"),
    FontFamily("dejavu-mono", "mono", "mono-bold", "mono", "mono"),
)


def font_path(font: FontRef) -> Path:
    """The file behind a core face name (or the path itself for an explicit file)."""
    if isinstance(font, Path):
        return font
    try:
        return MATPLOTLIB_TTF_DIR / CORE_FACES[font]
    except KeyError:
        raise ValueError(f"unknown font face {font!r}; choose from {sorted(CORE_FACES)}") from None


@lru_cache(maxsize=512)
def load_font(font: FontRef, size_px: int) -> ImageFont.FreeTypeFont:
    """A cached FreeType font at a pixel size (loading costs ~1 ms; pages reuse a handful)."""
    return ImageFont.truetype(
        str(font_path(font)), max(1, int(size_px)), layout_engine=ImageFont.Layout.BASIC
    )


def family(name: str) -> FontFamily:
    """A core family by name, or a system family (see ``system_families``) when installed."""
    for fam in (*FAMILIES, *(system_families() if name.startswith("liberation") else ())):
        if fam.name == name:
            return fam
    raise ValueError(f"unknown font family {name!r}")


def system_fonts() -> list[Path]:
    """Optional extra TTFs from Debian packages, sorted for a stable order; may be empty."""
    return sorted(p for d in SYSTEM_FONT_DIRS if d.is_dir() for p in d.glob("*.ttf"))


def system_families() -> list[FontFamily]:
    """Liberation families (metric clones of Arial/Times/Courier) when fonts-liberation is
    installed: extra variety for ad-hoc training or stress sets, never for canaries or the
    sample archive, whose pixels must not depend on the machine."""
    files = {p.stem: p for p in system_fonts()}
    out = []
    for name in ("LiberationSans", "LiberationSerif", "LiberationMono"):
        regular, bold = files.get(f"{name}-Regular"), files.get(f"{name}-Bold")
        italic, mono = files.get(f"{name}-Italic"), files.get("LiberationMono-Regular")
        if regular and bold and italic and mono:
            out.append(FontFamily(name.lower(), regular, bold, italic, mono))
    return out
