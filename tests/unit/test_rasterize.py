"""Rasterization: every input is a small real file made here (see tests/resources/README.md)."""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw

from ocr_tasks.core.config import LimitSettings
from ocr_tasks.core.errors import (
    CorruptInput,
    EmptyInput,
    EncryptedInput,
    TooLarge,
    UnsupportedInput,
)
from ocr_tasks.io import rasterize
from ocr_tasks.io.rasterize import PageFailure, iter_pages, page_count, sniff_format
from ocr_tasks.page_image import PageImage

LIMITS = LimitSettings(render_timeout_s=20)
DPI = 72


# ----------------------------------------------------------------------------- makers


def page_image(w: int = 120, h: int = 80, mode: str = "RGB", label: int = 0) -> Image.Image:
    """White page with a black box whose x position encodes ``label`` (to tell pages apart)."""
    im = Image.new("RGB", (w, h), "white")
    ImageDraw.Draw(im).rectangle([10 + 10 * label, 10, 20 + 10 * label, 30], fill="black")
    return im.convert(mode)


def make_pdf(path: Path, pages: int = 3) -> Path:
    first, *rest = [page_image(label=i) for i in range(pages)]
    first.save(path, "PDF", save_all=True, append_images=rest, resolution=72)
    return path


def make_tiff(path: Path, frames: int = 3, compression: str = "tiff_deflate") -> Path:
    first, *rest = [page_image(label=i) for i in range(frames)]
    first.save(
        path, "TIFF", save_all=True, append_images=rest, compression=compression, dpi=(300, 300)
    )
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, w: int, h: int) -> Path:
    """A PNG header claiming w x h pixels, with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    body = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted_pdf(path: Path, user_pw: str, owner_pw: str = "owner") -> Path:
    """A one-page PDF under the standard security handler (RC4 40-bit, R2), drawing a black
    box; written by hand so the tests need no PDF-writing dependency."""
    doc_id = hashlib.md5(b"ocr-test").digest()
    p = -4
    owner_key = hashlib.md5((owner_pw.encode() + _PAD)[:32]).digest()[:5]
    o = _rc4(owner_key, (user_pw.encode() + _PAD)[:32])
    key = hashlib.md5(
        (user_pw.encode() + _PAD)[:32] + o + struct.pack("<i", p) + doc_id
    ).digest()[:5]
    u = _rc4(key, _PAD)
    content = _rc4(
        hashlib.md5(key + struct.pack("<I", 4)[:3] + b"\x00\x00").digest()[:10],
        b"0 0 0 rg 20 20 60 40 re f",
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (o.hex().encode(), u.hex().encode(), p),
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    ident = doc_id.hex().encode()
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 5 0 R /ID [<%s><%s>] >>\n"
        b"startxref\n%d\n%%%%EOF\n" % (len(objects) + 1, ident, ident, xref)
    )
    path.write_bytes(out.getvalue())
    return path


def pages(path: Path, **kw: object) -> list[PageImage | PageFailure]:
    kw.setdefault("dpi", DPI)
    kw.setdefault("limits", LIMITS)
    return list(iter_pages(path, **kw))  # type: ignore[arg-type]


def is_black_box_at(img: np.ndarray, label: int) -> bool:
    """The label box of :func:`page_image` is dark (BGR pixels, 72 dpi = 1 px per point)."""
    x = 15 + 10 * label
    return bool(img[20, x].max() < 80 and img[5, 5].min() > 200)


# ------------------------------------------------------------------------------ sniffing


def test_png_mentioning_pdf_in_a_text_chunk_is_a_png(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "converted from %PDF-1.4 scan")
    page_image().save(tmp_path / "x.png", "PNG", pnginfo=info)
    assert sniff_format(tmp_path / "x.png") == "png"


def test_pdf_with_junk_before_the_header(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "doc.pdf", pages=1).read_bytes()
    (tmp_path / "junk.pdf").write_bytes(b"MIME-junk\r\n\r\n" + data)
    assert sniff_format(tmp_path / "junk.pdf") == "pdf"
    assert isinstance(pages(tmp_path / "junk.pdf")[0], PageImage)


@pytest.mark.parametrize(
    ("maker", "fmt"),
    [
        (lambda p: make_pdf(p), "pdf"),
        (lambda p: make_tiff(p), "tiff"),
        (lambda p: page_image().save(p, "PNG"), "png"),
        (lambda p: page_image().save(p, "JPEG"), "jpeg"),
    ],
)
def test_sniff_by_magic_bytes_not_name(tmp_path: Path, maker, fmt: str) -> None:  # noqa: ANN001
    path = tmp_path / "misnamed.txt"
    maker(path)
    assert sniff_format(path) == fmt


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", EmptyInput, "empty"),
        (b"Dear customer,\nplease find attached...\n", UnsupportedInput, "text file"),
        ("Grüße, ça va?\n".encode(), UnsupportedInput, "text file"),
        (b"PK\x03\x04" + b"\x00" * 40, UnsupportedInput, "office document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, UnsupportedInput, "office document"),
        (b"\x01\x02\x03\x04\x00\xff" * 10, UnsupportedInput, "unknown format"),
    ],
)
def test_sniff_rejects_non_documents(tmp_path: Path, data: bytes, error: type, words: str) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(data)
    with pytest.raises(error) as info:
        sniff_format(path, name="archive/scan.pdf")
    assert words in info.value.message and "archive/scan.pdf" in info.value.message
    with pytest.raises(error):
        pages(path)


# ----------------------------------------------------------------------------------- PDF


def test_pdf_pages_stream_in_order_as_bgr(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "doc.pdf", pages=3)
    assert page_count(path, LIMITS) == 3
    it = iter_pages(path, dpi=DPI, limits=LIMITS)
    first = next(it)  # a generator: pages come one at a time
    assert isinstance(first, PageImage)
    result = [first, *it]
    assert [p.index for p in result] == [0, 1, 2]
    for i, p in enumerate(result):
        assert isinstance(p, PageImage)
        assert p.image.dtype == np.uint8 and p.image.shape == (80, 120, 3)
        assert p.dpi == DPI
        assert is_black_box_at(p.image, i)


def test_pdf_page_range_and_dpi(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "doc.pdf", pages=4)
    got = pages(path, start=1, stop=3, dpi=144)
    assert [p.index for p in got] == [1, 2]
    assert all(isinstance(p, PageImage) and p.image.shape == (160, 240, 3) for p in got)
    assert [p.index for p in pages(path, start=3, stop=99)] == [3]
    assert pages(path, start=4) == []
    with pytest.raises(ValueError):
        pages(path, start=2, stop=1)


def test_pdf_too_many_pages(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "doc.pdf", pages=4)
    small = LimitSettings(max_pages=3)
    with pytest.raises(TooLarge, match="OCR_LIMIT_MAX_PAGES"):
        page_count(path, small)
    with pytest.raises(TooLarge):
        pages(path, limits=small)


def test_pdf_oversized_page_is_a_page_failure_checked_before_rendering(tmp_path: Path) -> None:
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(14400, 14400)  # 200 x 200 inches: 1.6 Gpx at 200 dpi
    pdf.new_page(200, 100)
    pdf.save(str(tmp_path / "poster.pdf"))
    got = pages(tmp_path / "poster.pdf", dpi=200)
    assert isinstance(got[0], PageFailure) and isinstance(got[0].error, TooLarge)
    assert "40000x40000" in got[0].error.message
    assert isinstance(got[1], PageImage) and got[1].image.shape == (278, 556, 3)


def test_pdf_with_no_pages_is_empty(tmp_path: Path) -> None:
    pdfium.PdfDocument.new().save(str(tmp_path / "zero.pdf"))
    with pytest.raises(EmptyInput):
        page_count(tmp_path / "zero.pdf", LIMITS)
    with pytest.raises(EmptyInput):
        pages(tmp_path / "zero.pdf")


def test_encrypted_pdf_needs_the_password(tmp_path: Path) -> None:
    path = encrypted_pdf(tmp_path / "locked.pdf", user_pw="s3cret")
    with pytest.raises(EncryptedInput, match="set OCR_LIMIT_PDF_PASSWORD"):
        page_count(path, LIMITS)
    with pytest.raises(EncryptedInput):
        pages(path)
    with pytest.raises(EncryptedInput, match="does not open it"):
        pages(path, limits=LimitSettings(pdf_password="wrong"))
    [page] = pages(path, limits=LimitSettings(pdf_password="s3cret"))
    assert isinstance(page, PageImage) and page.image.shape == (100, 200, 3)
    assert page.image[50, 50].max() < 80  # the decrypted content stream drew the box


def test_pdf_with_empty_user_password_opens_without_one(tmp_path: Path) -> None:
    path = encrypted_pdf(tmp_path / "owner-only.pdf", user_pw="")
    [page] = pages(path)
    assert isinstance(page, PageImage)


def test_pdf_with_broken_xref_is_repaired(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "doc.pdf", pages=2).read_bytes()
    head, _, tail = data.rpartition(b"startxref")
    broken = head + b"startxref\n999999\n%%EOF\n"
    (tmp_path / "broken.pdf").write_bytes(broken)
    got = pages(tmp_path / "broken.pdf")
    assert [type(p) for p in got] == [PageImage, PageImage]


def test_truncated_pdf_tail_is_repaired_by_poppler(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A download cut inside the trailer: PDFium refuses it, poppler reconstructs it."""
    data = make_pdf(tmp_path / "doc.pdf", pages=3).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: data.rfind(b"startxref") - 10])
    with caplog.at_level(logging.INFO, logger="ocr_tasks.io.rasterize"):
        assert page_count(tmp_path / "cut.pdf", LIMITS) == 3
        got = pages(tmp_path / "cut.pdf")
    assert [p.index for p in got] == [0, 1, 2]
    assert all(isinstance(p, PageImage) and is_black_box_at(p.image, p.index) for p in got)
    assert "falling back to poppler" in caplog.text and "repaired" in caplog.text


def test_pdf_truncated_before_its_page_tree_is_corrupt(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "doc.pdf", pages=3).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(CorruptInput, match="neither PDFium"):
        pages(tmp_path / "cut.pdf")


def test_garbage_pdf_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    with pytest.raises(CorruptInput, match="neither PDFium"):
        page_count(path, LIMITS)
    with pytest.raises(CorruptInput):
        pages(path)


def test_poppler_fallback_when_pdfium_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = make_pdf(tmp_path / "doc.pdf", pages=2)

    def refuse(*args: object, **kwargs: object) -> None:
        raise pdfium.PdfiumError("Failed to load document (PDFium: Data format error).", 3)

    monkeypatch.setattr(pdfium, "PdfDocument", refuse)
    with caplog.at_level(logging.INFO, logger="ocr_tasks.io.rasterize"):
        got = pages(path)
        assert page_count(path, LIMITS) == 2
    assert [p.index for p in got] == [0, 1]
    assert all(isinstance(p, PageImage) and is_black_box_at(p.image, p.index) for p in got)
    assert "falling back to poppler" in caplog.text


def test_poppler_fallback_when_pdfium_cannot_render_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = make_pdf(tmp_path / "doc.pdf", pages=2)
    real = rasterize._PdfSource._render_pdfium

    def flaky(self: rasterize._PdfSource, index: int, dpi: int) -> np.ndarray:
        if index == 1:
            raise pdfium.PdfiumError("render failed")
        return real(self, index, dpi)

    monkeypatch.setattr(rasterize._PdfSource, "_render_pdfium", flaky)
    with caplog.at_level(logging.WARNING, logger="ocr_tasks.io.rasterize"):
        got = pages(path)
    assert all(isinstance(p, PageImage) for p in got)
    assert got[1].image.shape == got[0].image.shape  # type: ignore[union-attr]
    assert "page 2" in caplog.text and "poppler" in caplog.text


# ---------------------------------------------------------------------------------- TIFF


def test_multiframe_tiff(tmp_path: Path) -> None:
    path = make_tiff(tmp_path / "scan.tif", frames=3)
    assert page_count(path, LIMITS) == 3
    got = pages(path)
    assert [p.index for p in got] == [0, 1, 2]
    for i, p in enumerate(got):
        assert isinstance(p, PageImage) and p.dpi == 300.0 and is_black_box_at(p.image, i)
    assert [p.index for p in pages(path, start=1, stop=2)] == [1]


def test_too_many_frames(tmp_path: Path) -> None:
    path = make_tiff(tmp_path / "scan.tif", frames=5)
    with pytest.raises(TooLarge, match="5 pages"):
        page_count(path, LimitSettings(max_pages=4))
    with pytest.raises(TooLarge):
        pages(path, limits=LimitSettings(max_pages=4))


def _corrupt_frames(path: Path, frames: list[int]) -> None:
    """Overwrite the compressed strips of the given frames with junk."""
    data = bytearray(path.read_bytes())
    with Image.open(path) as im:
        for f in frames:
            im.seek(f)
            for offset in im.tag_v2[273]:  # StripOffsets
                data[offset : offset + 16] = b"\xde\xad\xbe\xef" * 4
    path.write_bytes(bytes(data))


def test_corrupt_middle_frame_is_a_page_failure(tmp_path: Path) -> None:
    path = make_tiff(tmp_path / "scan.tif", frames=3)
    _corrupt_frames(path, [1])
    got = pages(path)
    assert isinstance(got[0], PageImage) and isinstance(got[2], PageImage)
    assert isinstance(got[1], PageFailure) and isinstance(got[1].error, CorruptInput)
    assert got[1].index == 1


def test_corrupt_first_frame_then_good_ones(tmp_path: Path) -> None:
    path = make_tiff(tmp_path / "scan.tif", frames=2)
    _corrupt_frames(path, [0])
    got = pages(path)
    assert [type(p) for p in got] == [PageFailure, PageImage]


def test_tiff_with_no_readable_frame_raises(tmp_path: Path) -> None:
    path = make_tiff(tmp_path / "scan.tif", frames=2)
    _corrupt_frames(path, [0, 1])
    with pytest.raises(CorruptInput, match="no readable frame"):
        pages(path)


def test_oversized_tiff_frame_is_a_page_failure(tmp_path: Path) -> None:
    path = tmp_path / "mixed.tif"
    page_image(40, 40).save(path, "TIFF", save_all=True, append_images=[page_image(200, 200)])
    got = pages(path, limits=LimitSettings(max_pixels=30_000))
    assert isinstance(got[0], PageImage)
    assert isinstance(got[1], PageFailure) and isinstance(got[1].error, TooLarge)


# ---------------------------------------------------------------------------- PNG / JPEG


def test_jpeg_named_pdf_is_processed_as_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "invoice.pdf"
    page_image().save(path, "JPEG", quality=95, dpi=(150, 150))
    assert sniff_format(path) == "jpeg"
    assert page_count(path, LIMITS) == 1
    [p] = pages(path)
    assert isinstance(p, PageImage) and p.image.shape == (80, 120, 3) and p.dpi == 150.0
    assert is_black_box_at(p.image, 0)


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    page_image(120, 80).save(path, "JPEG", exif=exif)
    [p] = pages(path)
    assert isinstance(p, PageImage) and p.image.shape == (120, 80, 3)


@pytest.mark.parametrize(
    "mode", ["L", "1", "P", "RGBA", "LA", "I;16", "CMYK"],
)
def test_image_modes_become_bgr_uint8(tmp_path: Path, mode: str) -> None:
    im = page_image(mode="L" if mode == "I;16" else mode)
    if mode == "I;16":
        im = Image.fromarray(np.asarray(im).astype(np.uint16) * 257)
        assert im.mode in ("I;16", "I")
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    path = tmp_path / f"img.{fmt.lower()}"
    im.save(path, fmt)
    [p] = pages(path)
    assert isinstance(p, PageImage)
    assert p.image.dtype == np.uint8 and p.image.shape == (80, 120, 3) and p.dpi is None
    assert is_black_box_at(p.image, 0), mode


def test_transparent_background_becomes_white(tmp_path: Path) -> None:
    im = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle([10, 10, 20, 20], fill=(0, 0, 0, 255))
    im.save(tmp_path / "t.png")
    [p] = pages(tmp_path / "t.png")
    assert isinstance(p, PageImage)
    assert p.image[2, 2].tolist() == [255, 255, 255] and p.image[15, 15].tolist() == [0, 0, 0]


def test_corrupt_image_body_raises_corrupt(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(
        buf, "PNG"
    )
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(CorruptInput):
        pages(tmp_path / "cut.png")


@pytest.mark.parametrize(("w", "h"), [(60_000, 60_000), (200, 200)])
def test_decompression_bomb_is_too_large(tmp_path: Path, w: int, h: int) -> None:
    """Far over the limit (PIL's own guard) and just over it (our header check)."""
    path = bomb_png(tmp_path / "bomb.png", w, h)
    with pytest.raises(TooLarge):
        pages(path, limits=LimitSettings(max_pixels=30_000))


def test_max_bytes(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "doc.pdf", pages=1)
    with pytest.raises(TooLarge, match="OCR_LIMIT_MAX_BYTES"):
        page_count(path, LimitSettings(max_bytes=100))
