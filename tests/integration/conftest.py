"""Fixtures for flow-level tests: one Prefect API for the session, small real archives."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

# Canary pages cost two extra OCR'd pages per batch; tests about canaries set their own count.
for _key, _value in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                     "DASK_LOGGING__DISTRIBUTED": "warning", "OMP_NUM_THREADS": "1",
                     "OCR_CANARY_PAGES": "0"}.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """Prefect's test harness: a real API server subprocess on a temporary SQLite database."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield str(PREFECT_API_URL.value())


def _font(size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(
        os.path.join(matplotlib.get_data_path(), "fonts/ttf/DejaVuSans.ttf"), size
    )


def text_page(lines: list[str], size: tuple[int, int] = (1000, 700)) -> Image.Image:
    """A clean 150-dpi-like page with the given lines (known ground truth)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((70, 80 + i * 70), line, font=_font(30), fill="black")
    return image


# Each document's page texts: the tests compare OCR output with these.
TINY_ARCHIVE: dict[str, list[list[str]]] = {
    "claims/claim 001.png": [["Claim number CLM-2025-0417", "Insured: Maria Keller"]],
    "policies/policy.pdf": [["Policy POL-7781-22", "Premium EUR 480.00"],
                            ["Coverage: Collision", "Deductible EUR 250"]],
    "letters/Brief Müller.tiff": [["Dear Mr Muller", "Your claim was approved"]],
}


def write_document(folder: Path, key: str, pages: list[list[str]]) -> Path:
    path = folder / key
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [text_page(lines) for lines in pages]
    if key.endswith(".pdf"):
        images[0].save(path, save_all=True, append_images=images[1:], resolution=150)
    elif key.endswith(".tiff"):
        images[0].save(path, save_all=True, append_images=images[1:], dpi=(150, 150))
    else:
        images[0].save(path, dpi=(150, 150))
    return path


@pytest.fixture()
def tiny_archive(tmp_path: Path) -> Path:
    """Three real documents (PNG, 2-page PDF, TIFF) plus one file that is not a document."""
    source = tmp_path / "source"
    for key, pages in TINY_ARCHIVE.items():
        write_document(source, key, pages)
    (source / "letters" / "readme.txt").write_text("not a scan\n")
    return source
