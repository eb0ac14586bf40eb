"""Fonts that exist wherever matplotlib is installed, so rendering never needs system fonts.

Canaries and samples use only the matplotlib-bundled DejaVu and STIX faces: the same seed must
give the same pixels on a laptop, a CI runner and a worker image. Training data wants variety
instead: ``DEBIAN_FAMILIES`` lists the faces of the Debian font packages the set-up installs
(the Makefile's SYSTEM_PACKAGES), used where their files are present and cover every
character the documents print; a missing package just means fewer families.

Fonts load with PIL's BASIC layout engine: with libraqm present, PIL would otherwise shape
text differently and break pixel determinism across machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
from fontTools.ttLib import TTFont
from PIL import ImageFont

MATPLOTLIB_TTF_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
SYSTEM_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/truetype/dejavu"),
)
DEBIAN_FONT_ROOT = Path("/usr/share/fonts")
# Every character the synthetic documents print (texts.py, fake_data.py with latin1_only):
# a face missing one would draw a blank box where the label says a letter.
REQUIRED_CHARS = "".join(chr(c) for c in range(33, 127)) + "ÄÖÜäöüßàçèéëí§°"

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
    package: str = ""  # the Debian package holding the files ("" = bundled with matplotlib)
    handwriting: bool = False  # a hand-lettering face: for values filled in on forms

    @property
    def faces(self) -> tuple[FontRef, ...]:
        return (self.regular, self.bold, self.italic, self.mono)


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


def _debian(name: str, package: str, folder: str, regular: str, bold: str, italic: str,
            mono: str | None = None, handwriting: bool = False) -> FontFamily:
    base = DEBIAN_FONT_ROOT / folder
    return FontFamily(name, base / regular, base / bold, base / italic,
                      base / mono if mono else "mono", package, handwriting)


# Faces of the Debian packages in the Makefile's SYSTEM_PACKAGES (sans, serif, typewriter and
# hand lettering, as insurers' forms, letters and invoices use them).
DEBIAN_FAMILIES: tuple[FontFamily, ...] = (
    _debian("liberationsans", "fonts-liberation", "truetype/liberation",
            "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf",
            "LiberationSans-Italic.ttf", "LiberationMono-Regular.ttf"),
    _debian("liberationserif", "fonts-liberation", "truetype/liberation",
            "LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf",
            "LiberationSerif-Italic.ttf", "LiberationMono-Regular.ttf"),
    _debian("liberationmono", "fonts-liberation", "truetype/liberation",
            "LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf",
            "LiberationMono-Italic.ttf", "LiberationMono-Regular.ttf"),
    _debian("freesans", "fonts-freefont-ttf", "truetype/freefont", "FreeSans.ttf",
            "FreeSansBold.ttf", "FreeSansOblique.ttf", "FreeMono.ttf"),
    _debian("freeserif", "fonts-freefont-ttf", "truetype/freefont", "FreeSerif.ttf",
            "FreeSerifBold.ttf", "FreeSerifItalic.ttf", "FreeMono.ttf"),
    _debian("nimbus-sans", "fonts-urw-base35", "opentype/urw-base35",
            "NimbusSans-Regular.otf", "NimbusSans-Bold.otf", "NimbusSans-Italic.otf",
            "NimbusMonoPS-Regular.otf"),
    _debian("nimbus-sans-narrow", "fonts-urw-base35", "opentype/urw-base35",
            "NimbusSansNarrow-Regular.otf", "NimbusSansNarrow-Bold.otf",
            "NimbusSansNarrow-Oblique.otf", "NimbusMonoPS-Regular.otf"),
    _debian("nimbus-roman", "fonts-urw-base35", "opentype/urw-base35",
            "NimbusRoman-Regular.otf", "NimbusRoman-Bold.otf", "NimbusRoman-Italic.otf",
            "NimbusMonoPS-Regular.otf"),
    _debian("nimbus-mono", "fonts-urw-base35", "opentype/urw-base35",
            "NimbusMonoPS-Regular.otf", "NimbusMonoPS-Bold.otf", "NimbusMonoPS-Italic.otf",
            "NimbusMonoPS-Regular.otf"),
    _debian("c059", "fonts-urw-base35", "opentype/urw-base35", "C059-Roman.otf",
            "C059-Bold.otf", "C059-Italic.otf"),
    _debian("p052", "fonts-urw-base35", "opentype/urw-base35", "P052-Roman.otf",
            "P052-Bold.otf", "P052-Italic.otf"),
    _debian("urw-bookman", "fonts-urw-base35", "opentype/urw-base35", "URWBookman-Light.otf",
            "URWBookman-Demi.otf", "URWBookman-LightItalic.otf"),
    _debian("urw-gothic", "fonts-urw-base35", "opentype/urw-base35", "URWGothic-Book.otf",
            "URWGothic-Demi.otf", "URWGothic-BookOblique.otf"),
    _debian("carlito", "fonts-crosextra-carlito", "truetype/crosextra", "Carlito-Regular.ttf",
            "Carlito-Bold.ttf", "Carlito-Italic.ttf"),
    _debian("caladea", "fonts-crosextra-caladea", "truetype/crosextra", "Caladea-Regular.ttf",
            "Caladea-Bold.ttf", "Caladea-Italic.ttf"),
    _debian("go", "fonts-go", "fonts-go", "Go-Regular.ttf", "Go-Bold.ttf", "Go-Italic.ttf",
            "Go-Mono.ttf"),
    _debian("open-sans", "fonts-open-sans", "truetype/open-sans", "OpenSans-Regular.ttf",
            "OpenSans-Bold.ttf", "OpenSans-Italic.ttf"),
    _debian("comic-neue", "fonts-comic-neue", "opentype/comic-neue", "ComicNeue-Regular.otf",
            "ComicNeue-Bold.otf", "ComicNeue-Italic.otf", handwriting=True),
    _debian("dancing-script", "fonts-dancingscript", "opentype/dancingscript",
            "DancingScript-Regular.otf", "DancingScript-Bold.otf", "DancingScript-Regular.otf",
            handwriting=True),
)


@lru_cache(maxsize=256)
def covers(font: FontRef, chars: str = REQUIRED_CHARS) -> bool:
    """Whether the face has a glyph for each of ``chars`` (False when the file is missing or
    unreadable)."""
    path = font_path(font)
    if not path.is_file():
        return False
    try:
        cmap = TTFont(str(path), lazy=True, fontNumber=0).getBestCmap() or {}
    except Exception:  # noqa: BLE001 - any unreadable font file is simply not offered
        return False
    return all(ord(c) in cmap for c in chars)


@lru_cache(maxsize=1)
def installed_families() -> tuple[FontFamily, ...]:
    """The Debian families whose files are all present and cover ``REQUIRED_CHARS``; empty
    where no package is installed (training data then uses the core faces alone)."""
    return tuple(f for f in DEBIAN_FAMILIES if all(covers(face) for face in f.faces))


def family(name: str) -> FontFamily:
    """A core family by name, or an installed Debian family (see ``installed_families``)."""
    for fam in FAMILIES:
        if fam.name == name:
            return fam
    for fam in DEBIAN_FAMILIES:
        if fam.name == name:
            if fam not in installed_families():
                raise ValueError(f"font family {name!r} needs the Debian package "
                                 f"{fam.package} (or lacks glyphs)")
            return fam
    raise ValueError(f"unknown font family {name!r}")


def system_fonts() -> list[Path]:
    """Optional extra TTFs from Debian packages, sorted for a stable order; may be empty."""
    return sorted(p for d in SYSTEM_FONT_DIRS if d.is_dir() for p in d.glob("*.ttf"))


def system_families() -> list[FontFamily]:
    """Liberation families (metric clones of Arial/Times/Courier) when fonts-liberation is
    installed."""
    return [f for f in installed_families() if f.package == "fonts-liberation"]


def print_families() -> tuple[FontFamily, ...]:
    """Every family for printed text: the core ones, then the installed Debian ones."""
    return (*FAMILIES, *(f for f in installed_families() if not f.handwriting))


def handwriting_families() -> tuple[FontFamily, ...]:
    """The installed hand-lettering families (may be empty)."""
    return tuple(f for f in installed_families() if f.handwriting)
