"""Document file -> page images, one page at a time, with stable error kinds.

Formats are recognised by their magic bytes, never by the file name, because archives are full
of misnamed files; this module is the one owner of that sniffing. Accepted: PDF, TIFF, PNG, JPEG
and HEIC/HEIF phone photos (decoded by pillow-heif's Pillow opener: the primary image is the one
page, turned upright by its orientation). Well-known formats we do not read (office files,
archives, GIF, WebP, AVIF, video, ...) are named in the error by their magic number; anything
else is "unknown format" with its first bytes. Pages are rendered lazily so an 800-page PDF
never sits in memory, and every page is checked against the pixel limit *before* it is
rendered or decoded.

Error policy (what the batch runner records):

* Document-level faults raise an :class:`~ocr_tasks.core.errors.InputError` subclass before
  the first page: empty file (``EmptyInput``; also a PDF with zero pages, since there is
  nothing to OCR), unknown format, encryption without a working password, too many pages,
  unopenable file.
* Page-level faults of multi-page documents are yielded as :class:`PageFailure` in page order,
  and the document goes on: a page over the pixel limit (``TooLarge``), a page no renderer can
  draw (``CorruptInput``), a renderer timeout (``RenderTimeout``). Exceptions: a PNG/JPEG/HEIF is
  its only page, so its faults raise; a TIFF whose frames are *all* undecodable raises
  ``CorruptInput``; a TIFF whose first frame PIL itself refuses as a decompression bomb (more
  than twice the pixel limit) raises ``TooLarge``.

PDFs are rendered with PDFium (pypdfium2). When PDFium cannot open a file or draw a page,
poppler (pdftoppm via pdf2image, with a timeout and an argument list, never a shell) gets a try.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from ocr_tasks.core.config import LimitSettings
from ocr_tasks.core.errors import (
    CorruptInput,
    EmptyInput,
    EncryptedInput,
    OcrPipelineError,
    RenderTimeout,
    TooLarge,
    UnsupportedInput,
)
from ocr_tasks.page_image import LayerWord, PageImage

log = logging.getLogger(__name__)

FORMATS = ("pdf", "tiff", "png", "jpeg", "heif")
IMAGE_FORMATS = ("tiff", "png", "jpeg", "heif")  # decoded by Pillow (HEIF through pillow-heif)

# PDFium is not thread-safe: one call at a time per process (never held across a yield).
_PDFIUM_LOCK = threading.RLock()
_MIN_STATED_DPI = 10.0  # some writers store dpi=(1, 1) meaning "unknown"


@dataclass(frozen=True)
class PageFailure:
    """A page that could not be produced; the rest of the document goes on."""

    index: int
    error: OcrPipelineError


# ------------------------------------------------------------------------------- sniffing

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
_KNOWN_OTHER: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "office document or zip archive (docx/xlsx/odt/zip)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy office document (doc/xls/ppt)"),
    (b"{\\rtf", "RTF document"),
    (b"GIF8", "GIF image"),
    (b"BM", "BMP image"),
    (b"RIFF", "RIFF container (WebP/AVI/WAV)"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"),
    (b"%!PS", "PostScript file"),
    (b"AT&TFORM", "DjVu document"),
    (b"8BPS", "Photoshop document (PSD)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\xff\x0a", "JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL image"),
    (b"\xc5\xd0\xd3\xc6", "EPS file"),
)
# ISO base media files (``....ftyp<major brand>...<compatible brands>``): HEIC/HEIF photos are
# read (pillow-heif); the others are named. AVIF comes first: it also lists the generic mif1.
_HEIF_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs",
                          "mif1", "msf1", "mif2"})
_ISO_OTHER = (
    (frozenset({"avif", "avis"}), "AVIF image: export it as JPEG, PNG or PDF"),
    (frozenset({"qt  "}), "QuickTime video"),
    (frozenset({"isom", "iso2", "mp41", "mp42", "avc1", "M4V ", "3gp4", "3gp5"}), "MP4 video"),
)
HEIF_UNSUPPORTED = "HEIC/HEIF image: not supported"


def _iso_brands(head: bytes) -> list[str] | None:
    """Major brand, then compatible brands, of an ISO base media file; None if it is not one."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    end = min(len(head), max(16, int.from_bytes(head[:4], "big")))
    raw = [head[8:12]] + [head[i:i + 4] for i in range(16, end - 3, 4)]
    return [b.decode("latin-1") for b in raw]


def _iso_format(brands: list[str], label: str) -> str:
    for known, what in _ISO_OTHER:
        if known.intersection(brands):
            raise UnsupportedInput(f"{label}: unsupported input: {what}")
    if _HEIF_BRANDS.intersection(brands):
        if heif_decoder():
            return "heif"
        raise UnsupportedInput(f"{label}: {HEIF_UNSUPPORTED} (pillow-heif is not installed): "
                               "export it as JPEG or PDF")
    raise UnsupportedInput(f"{label}: unsupported input: ISO media file (brand {brands[0]!r})")


_HEIF_READY: bool | None = None


def heif_decoder() -> bool:
    """Register pillow-heif's Pillow opener, once per process; False when it is missing."""
    global _HEIF_READY
    if _HEIF_READY is None:
        try:
            import pillow_heif
        except ImportError:
            log.warning("pillow-heif is not installed: HEIC/HEIF photos are refused")
            _HEIF_READY = False
        else:
            pillow_heif.register_heif_opener()
            _HEIF_READY = True
    return _HEIF_READY


def sniff_format(path: Path, name: str = "") -> str:
    """One of :data:`FORMATS`, decided by magic bytes (a JPEG named ``.pdf`` is a JPEG)."""
    label = name or path.name
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise CorruptInput(f"{label}: cannot read file: {e.strerror or e}") from e
    if not head:
        raise EmptyInput(f"{label}: file is empty (0 bytes)")
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if b"%PDF-" in head:  # the spec tolerates junk before the header; PDFium does too
        return "pdf"
    for magic, what in _KNOWN_OTHER:
        if head.startswith(magic):
            raise UnsupportedInput(f"{label}: unsupported input: {what}")
    brands = _iso_brands(head)  # HEIC/HEIF/AVIF photos, MP4/MOV video
    if brands is not None:
        return _iso_format(brands, label)
    if _looks_like_text(head):
        raise UnsupportedInput(f"{label}: unsupported input: text file, not a scanned document")
    raise UnsupportedInput(
        f"{label}: unsupported input: unknown format (starts with {head[:8].hex()}); "
        f"accepted: {', '.join(FORMATS)}"
    )


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a multibyte char cut at the end of the sample is fine
            try:
                head.decode("latin-1")
            except UnicodeDecodeError:
                return False
            return sum(b < 32 and b not in b"\t\r\n\f" for b in head) == 0
    return True


# --------------------------------------------------------------------------- page counts


def _check_bytes(path: Path, limits: LimitSettings, label: str) -> None:
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise TooLarge(f"{label}: {size} bytes exceeds OCR_LIMIT_MAX_BYTES={limits.max_bytes}")


def _check_pages(n: int, limits: LimitSettings, label: str) -> int:
    if n > limits.max_pages:
        raise TooLarge(f"{label}: {n} pages exceeds OCR_LIMIT_MAX_PAGES={limits.max_pages}")
    return n


def page_count(path: Path, limits: LimitSettings, fmt: str | None = None, *,
               name: str = "") -> int:
    """Number of pages/frames without rendering anything (used to plan batches). ``name``
    (e.g. the source uri of a spooled S3 object) stands for the file in messages."""
    label = name or path.name
    fmt = fmt or sniff_format(path, label)
    _check_bytes(path, limits, label)
    if fmt == "pdf":
        with _PdfSource(path, limits, label) as src:
            n = src.count
        if n == 0:
            raise EmptyInput(f"{label}: PDF has no pages")
        return _check_pages(n, limits, label)
    if fmt == "tiff":
        with _OpenImage(path, limits, label) as im:
            return _check_pages(_frame_count(im, label), limits, label)
    if fmt in ("png", "jpeg", "heif"):
        return 1
    raise UnsupportedInput(f"{label}: unsupported format {fmt!r}")


# ---------------------------------------------------------------------------- iteration


def iter_pages(
    path: Path,
    *,
    dpi: int,
    limits: LimitSettings,
    start: int = 0,
    stop: int | None = None,
    fmt: str | None = None,
    name: str = "",
    text_layer: bool = False,
) -> Iterator[PageImage | PageFailure]:
    """Pages ``start``..``stop`` (0-based, stop exclusive, clamped to the page count);
    ``name`` stands for the file in messages, as for :func:`page_count`. With
    ``text_layer``, PDF pages also carry the words of their own text layer
    (``PageImage.text_layer``, see ``io.text_layer``)."""
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"invalid page range {start}..{stop}")
    label = name or path.name
    fmt = fmt or sniff_format(path, label)
    _check_bytes(path, limits, label)
    if fmt == "pdf":
        yield from _iter_pdf(path, dpi, limits, start, stop, label, text_layer)
    elif fmt in IMAGE_FORMATS:
        yield from _iter_image(path, limits, start, stop, label)
    else:
        raise UnsupportedInput(f"{label}: unsupported format {fmt!r}")


# ------------------------------------------------------------------------------------ PDF


class _PdfSource:
    """An open PDF: PDFium when it can, poppler (pdftoppm) when PDFium cannot open the file."""

    def __init__(self, path: Path, limits: LimitSettings, label: str = "") -> None:
        self.path = path
        self.label = label or path.name  # what messages call the file
        self.limits = limits
        self.password = limits.pdf_password.get_secret_value() if limits.pdf_password else None
        self.pdf: Any = None  # pypdfium2.PdfDocument, or None in poppler mode
        self.count = 0

    def __enter__(self) -> _PdfSource:
        import pypdfium2 as pdfium

        try:
            with _PDFIUM_LOCK:
                self.pdf = pdfium.PdfDocument(str(self.path), password=self.password)
                self.count = len(self.pdf)
                _init_forms(self.pdf, self.label)
            return self
        except pdfium.PdfiumError as e:
            # PDFium's error code is process-wide and not cleared by a failure that sets none:
            # after one encrypted PDF, a zero-page PDF also reports "password". Trust it only
            # when the file declares encryption; otherwise poppler decides.
            if e.err_code == 4 and _declares_encryption(self.path):  # FPDF_ERR_PASSWORD
                raise self._encrypted() from e
            pdfium_error = e
        log.warning(
            "PDFium cannot open %s (%s); falling back to poppler", self.label, pdfium_error
        )
        self.count = self._poppler_count(pdfium_error)
        log.info("poppler repaired/opened %s: %d pages", self.label, self.count)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pdf is not None:
            with _PDFIUM_LOCK:
                self.pdf.close()
            self.pdf = None

    def _encrypted(self) -> EncryptedInput:
        if self.password:
            return EncryptedInput(
                f"{self.label}: encrypted PDF; OCR_LIMIT_PDF_PASSWORD does not open it"
            )
        return EncryptedInput(
            f"{self.label}: encrypted PDF needs a password: set OCR_LIMIT_PDF_PASSWORD"
        )

    def _poppler_count(self, cause: Exception) -> int:
        from pdf2image import pdfinfo_from_path
        from pdf2image.exceptions import PDFPopplerTimeoutError

        try:
            info = pdfinfo_from_path(
                str(self.path), userpw=self.password, timeout=self.limits.render_timeout_s,
            )
            return int(info["Pages"])
        except PDFPopplerTimeoutError as e:
            raise RenderTimeout(
                f"{self.label}: poppler took longer than "
                f"OCR_LIMIT_RENDER_TIMEOUT_S={self.limits.render_timeout_s}s to open it"
            ) from e
        except Exception as e:
            if "Incorrect password" in str(e) or "encrypted" in str(e).lower():
                raise self._encrypted() from e
            if re.search(r"page count 0|last page \(0\)", str(e)):
                raise EmptyInput(f"{self.label}: PDF has no pages") from e
            pdfium = _detail(cause, self.path, self.label)
            raise CorruptInput(
                f"{self.label}: corrupt PDF, neither PDFium ({pdfium}) nor poppler can open it"
            ) from e

    def page_points(self, index: int) -> tuple[float, float]:
        """Page width/height in points (1/72 inch), as displayed."""
        if self.pdf is not None:
            with _PDFIUM_LOCK:
                page = self.pdf[index]
                try:
                    w, h = page.get_size()
                finally:
                    page.close()
            return float(w), float(h)
        return self._poppler_points(index)

    def _poppler_points(self, index: int) -> tuple[float, float]:
        from pdf2image import pdfinfo_from_path

        info = pdfinfo_from_path(
            str(self.path),
            userpw=self.password,
            timeout=self.limits.render_timeout_s,
            first_page=index + 1,
            last_page=index + 1,
        )
        for key, value in info.items():
            if re.fullmatch(r"Page\s*(\d+\s+)?size", key):
                m = re.match(r"\s*([\d.]+)\s*x\s*([\d.]+)", str(value))
                if m:
                    return float(m.group(1)), float(m.group(2))
        raise CorruptInput(f"{self.label}: page {index + 1} has no size")

    def text_layer(self, index: int, width: int, height: int) -> tuple[LayerWord, ...] | None:
        """The page's text-layer words in pixels of its render (``io.text_layer``); None when
        only poppler could open the file, or PDFium cannot read the layer (the page is then
        OCR'd like a scan)."""
        if self.pdf is None:
            return None
        from ocr_tasks.io.text_layer import extract_words

        with _PDFIUM_LOCK:
            page = self.pdf[index]
            try:
                return extract_words(page, width, height)
            except Exception as e:  # noqa: BLE001 - an unreadable layer only costs OCR time
                log.warning("%s page %d: text layer unreadable (%s); OCR instead",
                            self.label, index + 1, e)
                return None
            finally:
                page.close()

    def render(self, index: int, dpi: int) -> np.ndarray:
        """BGR pixels of one page; PDFium first, poppler for pages PDFium cannot draw."""
        if self.pdf is not None:
            try:
                return self._render_pdfium(index, dpi)
            except Exception as e:  # noqa: BLE001 - any PDFium failure gets the fallback
                log.warning(
                    "PDFium cannot render %s page %d (%s); falling back to poppler",
                    self.label,
                    index + 1,
                    e,
                )
        image = self._render_poppler(index, dpi)
        log.info("poppler fallback rendered %s page %d", self.label, index + 1)
        return image

    def _render_pdfium(self, index: int, dpi: int) -> np.ndarray:
        with _PDFIUM_LOCK:
            page = self.pdf[index]
            try:
                bitmap = page.render(scale=dpi / 72.0)
                try:
                    pixels = bitmap.to_numpy()
                    # the array views PDFium's buffer: copy before the bitmap is freed
                    return _to_bgr_array(np.array(pixels, copy=True), bitmap.mode)
                finally:
                    bitmap.close()
            finally:
                page.close()

    def _render_poppler(self, index: int, dpi: int) -> np.ndarray:
        from pdf2image import convert_from_path
        from pdf2image.exceptions import PDFPopplerTimeoutError

        try:
            images = convert_from_path(
                str(self.path),
                dpi=dpi,
                first_page=index + 1,
                last_page=index + 1,
                userpw=self.password,
                timeout=self.limits.render_timeout_s,
            )
        except PDFPopplerTimeoutError as e:
            raise RenderTimeout(
                f"{self.label}: page {index + 1} took longer than "
                f"OCR_LIMIT_RENDER_TIMEOUT_S={self.limits.render_timeout_s}s to render"
            ) from e
        except Exception as e:
            raise CorruptInput(f"{self.label}: page {index + 1} cannot be rendered: "
                               f"{_detail(e, self.path, self.label)}") from e
        if not images:
            raise CorruptInput(f"{self.label}: page {index + 1} cannot be rendered")
        return pil_to_bgr(images[0])


def _declares_encryption(path: Path) -> bool:
    """True when the file has an ``/Encrypt`` entry (trailer and cross-reference stream
    dictionaries are never encrypted or compressed, so a byte search finds it)."""
    tail = b""
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            if b"/Encrypt" in tail + block:
                return True
            tail = block[-8:]
    return False


def _init_forms(pdf: Any, label: str) -> None:
    """Filled-in form fields are drawn only with the form environment initialised."""
    try:
        pdf.init_forms()
    except Exception as e:  # noqa: BLE001 - pages still render, without form fields
        log.info("%s: PDF forms not initialised (%s); rendering without form fields", label, e)


def _to_bgr_array(pixels: np.ndarray, mode: str) -> np.ndarray:
    if mode == "BGR":
        return pixels
    if mode in ("BGRA", "BGRx"):
        return np.ascontiguousarray(pixels[:, :, :3])
    if mode == "L":
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if mode in ("RGB",):
        return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    if mode in ("RGBA", "RGBX"):
        return cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGR)
    raise CorruptInput(f"unexpected PDFium bitmap mode {mode}")


def _iter_pdf(
    path: Path, dpi: int, limits: LimitSettings, start: int, stop: int | None, label: str,
    text_layer: bool = False,
) -> Iterator[PageImage | PageFailure]:
    with _PdfSource(path, limits, label) as src:
        if src.count == 0:
            raise EmptyInput(f"{label}: PDF has no pages")
        _check_pages(src.count, limits, label)
        end = src.count if stop is None else min(stop, src.count)
        for index in range(start, end):
            yield _pdf_page(src, index, dpi, limits, text_layer)


def _pdf_page(
    src: _PdfSource, index: int, dpi: int, limits: LimitSettings, text_layer: bool = False
) -> PageImage | PageFailure:
    label = f"{src.label} page {index + 1}"
    try:
        w_pt, h_pt = src.page_points(index)
        width, height = round(w_pt * dpi / 72.0), round(h_pt * dpi / 72.0)
        if width <= 0 or height <= 0:
            raise CorruptInput(f"{label}: page has no area ({w_pt} x {h_pt} pt)")
        if width * height > limits.max_pixels:
            raise TooLarge(
                f"{label}: {width}x{height} px at {dpi} dpi exceeds "
                f"OCR_LIMIT_MAX_PIXELS={limits.max_pixels}"
            )
        pixels = src.render(index, dpi)
        words = src.text_layer(index, pixels.shape[1], pixels.shape[0]) if text_layer else None
        return PageImage(pixels, index=index, dpi=float(dpi), text_layer=words)
    except OcrPipelineError as e:
        return PageFailure(index, e)
    except Exception as e:  # noqa: BLE001 - an unexpected renderer fault is a page fault
        detail = _detail(e, src.path, src.label)
        return _failure(index, CorruptInput(f"{label}: cannot be rendered: {detail}"), e)


# --------------------------------------------------------------------------------- images


class _OpenImage:
    """``Image.open`` with the pixel limit installed and PIL's errors mapped to ours."""

    def __init__(self, path: Path, limits: LimitSettings, label: str = "") -> None:
        self.path = path
        self.label = label or path.name  # what messages call the file
        self.limits = limits
        self.im: Image.Image | None = None

    def __enter__(self) -> Image.Image:
        heif_decoder()  # a HEIC photo opens like any other image
        # PIL raises DecompressionBombError above 2x this; we check each frame ourselves too.
        # Scoped, not left set: the limit is ours, other code in the process keeps PIL's own.
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, self.limits.max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self.im = Image.open(self.path)
        except Image.DecompressionBombError as e:
            raise TooLarge(f"{self.label}: {_detail(e, self.path, self.label)}") from e
        except Exception as e:
            raise CorruptInput(
                f"{self.label}: cannot open image: {_detail(e, self.path, self.label)}") from e
        finally:
            Image.MAX_IMAGE_PIXELS = previous
        return self.im

    def __exit__(self, *exc: object) -> None:
        if self.im is not None:
            self.im.close()


def _frame_count(im: Image.Image, label: str) -> int:
    try:
        return int(getattr(im, "n_frames", 1))
    except Exception as e:
        raise CorruptInput(f"{label}: cannot count frames: {e}") from e


def _iter_image(
    path: Path, limits: LimitSettings, start: int, stop: int | None, label: str
) -> Iterator[PageImage | PageFailure]:
    """PNG/JPEG/HEIF (one page: its faults are the document's, so they raise) or TIFF (one page
    per frame: a bad frame is a :class:`PageFailure` once the file has shown a good frame)."""
    with _OpenImage(path, limits, label) as im:
        if im.format != "TIFF":
            if start == 0 and (stop is None or stop > 0):
                item = _image_frame(im, 0, label, limits)
                if isinstance(item, PageFailure):
                    raise item.error
                yield item
            return
        n = _check_pages(_frame_count(im, label), limits, label)
        end = n if stop is None else min(stop, n)
        pending: list[PageFailure] = []  # corrupt frames wait until a good frame proves the file
        produced = False
        for index in range(start, end):
            item = _image_frame(im, index, label, limits)
            if isinstance(item, PageFailure) and not produced:
                pending.append(item)
                continue
            produced = True
            yield from pending
            pending.clear()
            yield item
        if pending:
            corrupt = [f for f in pending if isinstance(f.error, CorruptInput)]
            if len(corrupt) == len(pending) and start == 0 and end == n:
                raise CorruptInput(f"{label}: no readable frame: {corrupt[0].error.message}")
            yield from pending


def _image_frame(
    im: Image.Image, index: int, label: str, limits: LimitSettings
) -> PageImage | PageFailure:
    where = f"{label} frame {index + 1}"
    try:
        if index:
            im.seek(index)
        width, height = im.size
        if width * height > limits.max_pixels:
            raise TooLarge(
                f"{where}: {width}x{height} px exceeds OCR_LIMIT_MAX_PIXELS={limits.max_pixels}"
            )
        dpi = _stated_dpi(im)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            frame = _upright(im)
            return PageImage(pil_to_bgr(frame), index=index, dpi=dpi)
    except OcrPipelineError as e:
        return PageFailure(index, e)
    except Image.DecompressionBombError as e:
        return _failure(index, TooLarge(f"{where}: {e}"), e)
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL raises many types for broken frames
        return _failure(index, CorruptInput(f"{where}: cannot decode: {e}"), e)


def _detail(e: BaseException, path: Path, label: str) -> str:
    """An exception's text for a message, naming the file by its label, never by the path
    it was read from (a spooled S3 object's temp file)."""
    return str(e).replace(str(path), label)


def _failure(index: int, error: OcrPipelineError, cause: BaseException) -> PageFailure:
    """A page failure that keeps the underlying exception for tracebacks."""
    error.__cause__ = cause
    return PageFailure(index, error)


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos), copying only when there is one to apply."""
    try:
        orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - unreadable EXIF means "as stored"
        return im
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(im) or im
    return im


def _stated_dpi(im: Image.Image) -> float | None:
    dpi = im.info.get("dpi")
    try:
        x = float(dpi[0] if isinstance(dpi, tuple | list) else dpi)  # type: ignore[index,arg-type]
    except (TypeError, ValueError, IndexError):
        return None
    return x if x >= _MIN_STATED_DPI else None


def pil_to_bgr(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> HxWx3 uint8 BGR: alpha over white, 16-bit scaled, CMYK/palette to RGB."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray = _scale_to_u8(np.asarray(im), unit_range=(mode == "F"))
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("LA", "La", "PA", "RGBa"):
        im, mode = im.convert("RGBA"), "RGBA"
    if mode == "RGBA":
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im).convert("RGB")
    elif mode in ("1", "L"):
        return cv2.cvtColor(np.asarray(im.convert("L")), cv2.COLOR_GRAY2BGR)
    elif mode != "RGB":
        im = im.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV
    return cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)


def _scale_to_u8(a: np.ndarray, *, unit_range: bool = False) -> np.ndarray:
    """16-bit / 32-bit gray to 8 bits: by the type's range when values use it, else by the max."""
    a = a.astype(np.float32)
    top = float(a.max()) if a.size else 0.0
    if unit_range and top <= 1.0:
        return np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if top <= 255.0 and a.min() >= 0:
        return a.astype(np.uint8)
    scale = 255.0 / (65535.0 if top <= 65535.0 else top)
    return np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)


__all__ = [
    "FORMATS",
    "PageFailure",
    "iter_pages",
    "page_count",
    "pil_to_bgr",
    "sniff_format",
]
