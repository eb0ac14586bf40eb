"""Formats a new user's archive holds beyond scans: HEIC phone photos are read; AVIF, video,
archives and other well-known files are named by their magic number, never "unknown"."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from ocr_tasks.core.config import LimitSettings
from ocr_tasks.core.errors import CorruptInput, TooLarge, UnsupportedInput
from ocr_tasks.io import rasterize
from ocr_tasks.io.rasterize import PageFailure, iter_pages, page_count, sniff_format


def heic_photo(path: Path, image: Image.Image | None = None, orientation: int = 1) -> Path:
    """A real HEIC file (HEVC, encoded by the x265 that pillow-heif's wheel bundles) of
    ``image`` (default: a black bar on white, 320 x 200), with the EXIF orientation a phone
    writes."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    if image is None:
        image = Image.new("RGB", (320, 200), "white")
        ImageDraw.Draw(image).rectangle((20, 20, 120, 60), fill="black")
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, format="HEIF", quality=90, exif=exif.tobytes())
    return path


def test_heic_photo_is_sniffed_counted_and_decoded_upright(tmp_path: Path) -> None:
    path = heic_photo(tmp_path / "IMG_0001.HEIC", orientation=6)  # phone held upright
    assert path.read_bytes()[4:12] == b"ftypheic"
    assert sniff_format(path) == "heif"
    assert page_count(path, LimitSettings()) == 1
    [page] = list(iter_pages(path, dpi=200, limits=LimitSettings()))
    assert not isinstance(page, PageFailure)
    assert page.image.shape == (320, 200, 3)  # turned a quarter: portrait, as the phone held it
    assert page.image.dtype.name == "uint8" and page.image.min() < 50  # the bar is there
    with pytest.raises(TooLarge):  # the pixel limit holds for photos too
        list(iter_pages(path, dpi=200, limits=LimitSettings(max_pixels=1000)))


def test_a_broken_heic_is_corrupt_not_unknown(tmp_path: Path) -> None:
    path = tmp_path / "cut.heic"
    path.write_bytes(heic_photo(tmp_path / "whole.heic").read_bytes()[:300])
    assert sniff_format(path) == "heif"
    with pytest.raises(CorruptInput):
        list(iter_pages(path, dpi=200, limits=LimitSettings()))


def test_heic_without_a_decoder_is_named_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\0\0\0\0mif1heic" + bytes(64))
    monkeypatch.setattr(rasterize, "_HEIF_READY", False)
    with pytest.raises(UnsupportedInput) as info:
        sniff_format(tmp_path / "p.heic", name="phone/p.heic")
    assert "phone/p.heic: HEIC/HEIF image: not supported" in info.value.message


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (b"\x00\x00\x00\x1cftypavif\0\0\0\0avifmif1miaf", "AVIF image"),
        (b"\x00\x00\x00\x18ftypmif1\0\0\0\0mif1avif", "AVIF image"),  # generic major brand
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "MP4 video"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "QuickTime video"),
        (b"\x00\x00\x00\x14ftypcrx \x00\x00\x00\x01crx ", "ISO media file (brand 'crx ')"),
        (b"GIF89a\x01\x00\x01\x00", "GIF image"),
        (b"{\\rtf1\\ansi hello}", "RTF document"),
        (b"PK\x03\x04\x14\x00\x06\x00", "zip archive"),
        (b"8BPS\x00\x01", "Photoshop document"),
        (b"\x1f\x8b\x08\x00", "gzip archive"),
        (b"Rar!\x1a\x07\x01\x00", "RAR archive"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "7-Zip archive"),
        (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL image"),
    ],
)
def test_well_known_formats_are_named(tmp_path: Path, head: bytes, words: str) -> None:
    (tmp_path / "x.pdf").write_bytes(head + bytes(range(256)) * 4)
    with pytest.raises(UnsupportedInput) as info:
        sniff_format(tmp_path / "x.pdf", name="drop/x.pdf")
    assert words in info.value.message and info.value.kind == "unsupported"
    assert info.value.message.startswith("drop/x.pdf: ")
