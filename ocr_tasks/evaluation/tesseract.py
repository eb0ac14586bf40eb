"""Tesseract behind the engine interface, for side-by-side benchmarks only.

Runs the ``tesseract`` command-line program (apt package ``tesseract-ocr``) in a subprocess
with an argument list and ``OMP_THREAD_LIMIT`` set, reads its TSV output and returns the same
``document.Page`` tree as our engine, so ``evaluate`` and the benchmark can treat both alike.
It is not part of the production pipeline and is never imported by it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ocr_tasks.core.errors import ModelError
from ocr_tasks.document import Line, Page, Word, box_polygon
from ocr_tasks.page_image import PageImage

TESSERACT = "tesseract"


def tesseract_available() -> bool:
    """True when the ``tesseract`` program is on PATH (benchmarks skip it otherwise)."""
    return shutil.which(TESSERACT) is not None


@cache
def tesseract_version() -> str:
    """First line of ``tesseract --version``, e.g. ``5.3.0``."""
    out = subprocess.run(
        [TESSERACT, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split()[-1] if first else "unknown"


@dataclass(frozen=True)
class TesseractSettings:
    """Tesseract options; defaults are the stock LSTM engine, as people usually run it."""

    lang: str = "eng"
    oem: int = 1  # 1 = LSTM only
    page_psm: int = 3  # fully automatic page segmentation
    crop_psm: int = 7  # a crop is a single text line
    threads: int = 1  # OMP_THREAD_LIMIT of each tesseract process
    timeout_s: float = 300.0


@dataclass(frozen=True)
class _TsvWord:
    page: int
    line_key: tuple[int, int, int]
    box: tuple[float, float, float, float]
    conf: float
    text: str


def _parse_tsv(tsv: str) -> tuple[list[_TsvWord], dict[tuple[int, int, int, int], tuple]]:
    """Word rows (level 5) and line boxes (level 4) of tesseract's TSV output.

    Columns: level page_num block_num par_num line_num word_num left top width height conf text.
    """
    words: list[_TsvWord] = []
    lines: dict[tuple[int, int, int, int], tuple] = {}
    for row in tsv.splitlines()[1:]:
        f = row.split("\t", 11)
        if len(f) < 11 or not f[0].isdigit():
            continue
        level, page, block, par, line = (int(v) for v in f[:5])
        left, top, width, height = (float(v) for v in f[6:10])
        box = (left, top, left + width, top + height)
        if level == 4:
            lines[(page, block, par, line)] = box
        elif level == 5:
            text = f[11].strip() if len(f) > 11 else ""
            conf = float(f[10])
            if text and conf >= 0:
                words.append(_TsvWord(page, (block, par, line), box, conf / 100.0, text))
    return words, lines


class TesseractEngine:
    """``recognize_pages``/``recognize_crops`` around the tesseract CLI.

    Crops go through one tesseract process per call (a list file of PNGs, one "page" each),
    so the LSTM model loads once instead of once per word; they are passed as cut, without
    borders or rescaling, like every other engine under evaluation.
    """

    def __init__(self, settings: TesseractSettings | None = None) -> None:
        if not tesseract_available():
            raise ModelError("tesseract not found on PATH; install the tesseract-ocr package")
        self._settings = settings or TesseractSettings()
        self.model_name = f"tesseract-lstm-{self._settings.lang}"
        self.model_version = tesseract_version()

    @property
    def settings(self) -> dict[str, Any]:
        return asdict(self._settings)

    def _run(self, args: list[str], stdin: bytes | None = None) -> str:
        s = self._settings
        env = {**os.environ, "OMP_THREAD_LIMIT": str(s.threads)}
        cmd = [TESSERACT, *args, "-l", s.lang, "--oem", str(s.oem)]
        try:
            out = subprocess.run(
                cmd, input=stdin, capture_output=True, env=env, timeout=s.timeout_s, check=True
            )
        except subprocess.CalledProcessError as e:
            raise ModelError(f"tesseract failed: {e.stderr.decode(errors='replace')[-500:]}") from e
        except subprocess.TimeoutExpired as e:
            raise ModelError(f"tesseract took longer than {s.timeout_s} s") from e
        return out.stdout.decode("utf-8", errors="replace")

    def recognize_pages(self, pages: Sequence[PageImage]) -> list[Page]:
        """One tesseract process per page, image passed on stdin as PNG."""
        return [self._recognize_page(p) for p in pages]

    def _recognize_page(self, page: PageImage) -> Page:
        t0 = time.perf_counter()
        ok, png = cv2.imencode(".png", page.image)
        if not ok:
            raise ModelError("could not encode page image as PNG")
        args = ["stdin", "stdout", "--psm", str(self._settings.page_psm)]
        if page.dpi:
            args += ["--dpi", str(int(round(page.dpi)))]
        words, line_boxes = _parse_tsv(self._run([*args, "tsv"], stdin=png.tobytes()))
        grouped: dict[tuple[int, int, int], list[_TsvWord]] = {}
        for w in words:
            grouped.setdefault(w.line_key, []).append(w)
        lines = []
        for key, ws in grouped.items():
            box = line_boxes.get((ws[0].page, *key)) or _union(w.box for w in ws)
            lines.append(
                Line(
                    text=" ".join(w.text for w in ws),
                    confidence=float(np.mean([w.conf for w in ws])),
                    polygon=box_polygon(box),
                    words=tuple(Word(w.text, w.conf, box_polygon(w.box)) for w in ws),
                )
            )
        return Page(
            index=page.index,
            width=page.width,
            height=page.height,
            dpi=page.dpi,
            lines=tuple(lines),
            model_name=self.model_name,
            model_version=self.model_version,
            timings={"tesseract_s": time.perf_counter() - t0},
        )

    def recognize_crops(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Text and mean word confidence per crop; empty crops give ('', 0.0)."""
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        todo = [i for i, c in enumerate(crops) if c.size and c.shape[0] > 0 and c.shape[1] > 0]
        if not todo:
            return results
        with tempfile.TemporaryDirectory(prefix="tess-crops-") as tmp:
            paths = []
            for i in todo:
                path = Path(tmp) / f"{i:06d}.png"
                if not cv2.imwrite(str(path), crops[i]):
                    raise ModelError("could not write crop image")
                paths.append(str(path))
            listing = Path(tmp) / "crops.txt"
            listing.write_text("\n".join(paths) + "\n")
            tsv = self._run([str(listing), "stdout", "--psm", str(self._settings.crop_psm), "tsv"])
        words, _ = _parse_tsv(tsv)
        by_page: dict[int, list[_TsvWord]] = {}
        for w in words:
            by_page.setdefault(w.page, []).append(w)
        for n, i in enumerate(todo, start=1):  # TSV page_num counts the listed images from 1
            ws = by_page.get(n, [])
            if ws:
                results[i] = (" ".join(w.text for w in ws), float(np.mean([w.conf for w in ws])))
        return results


def _union(boxes: Any) -> tuple[float, float, float, float]:
    bs = list(boxes)
    return (
        min(b[0] for b in bs),
        min(b[1] for b in bs),
        max(b[2] for b in bs),
        max(b[3] for b in bs),
    )
