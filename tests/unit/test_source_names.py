"""Error rows and warnings name a document by its source uri, never by the temp file an S3
object is spooled to (``ocr-src-xxxx.pdf``)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pytest

from ocr_tasks.core.config import EngineSettings, LimitSettings
from ocr_tasks.io.storage import LocalStore, file_content_id
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.lake.tables import Lake
from ocr_tasks.pipeline.batch import run_batch
from ocr_tasks.pipeline.discovery import Probe, probe_document
from ocr_tasks.pipeline.planning import BatchSpec, WorkItem
from tests.unit.test_batch import QUIET, CountingEngine

NOW = datetime(2026, 11, 28, tzinfo=UTC)


class SpoolingStore(LocalStore):
    """A folder that behaves like an S3 prefix for naming and reading: uris are
    ``s3://archive/drop/<key>`` and objects are spooled to temp files as S3Store does."""

    def uri(self, key: str) -> str:
        return f"s3://archive/drop/{key}"

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        fd, name = tempfile.mkstemp(prefix="ocr-src-", suffix=PurePosixPath(key).suffix)
        os.close(fd)
        shutil.copyfile(self.root / key, name)
        try:
            yield Path(name)
        finally:
            os.unlink(name)


def ref(store: SpoolingStore, key: str, data: bytes) -> SourceRef:
    (store.root / key).parent.mkdir(parents=True, exist_ok=True)
    (store.root / key).write_bytes(data)
    return SourceRef(key, store.uri(key), len(data), NOW)


def test_probe_error_and_warning_name_the_source_uri(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SpoolingStore(tmp_path)
    bad = ref(store, "claims/bad.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\n" + b"x" * 200)
    with caplog.at_level(logging.WARNING, logger="ocr_tasks.io.rasterize"):
        probe = probe_document(store, bad, LimitSettings())
    assert probe.error_kind == "corrupt"
    assert probe.error_message is not None
    assert probe.error_message.startswith("s3://archive/drop/claims/bad.pdf: corrupt PDF")
    assert "ocr-src" not in probe.error_message
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("PDFium cannot open s3://archive/drop/claims/bad.pdf") for m in said)
    assert not any("ocr-src" in m for m in said)
    empty = probe_document(store, ref(store, "empty.png", b""), LimitSettings())
    assert empty.error_message == "s3://archive/drop/empty.png: file is empty (0 bytes)"


def test_batch_error_rows_name_the_source_uri(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    store = SpoolingStore(src)
    broken = ref(store, "scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 40)
    doc_id = file_content_id(src / "scan.png")
    spec = BatchSpec("rtest-b0001", "run-test", "2026-11-28", "s3://archive/drop",
                     str(tmp_path / "lake"), (WorkItem(Probe(broken, doc_id, "png", 1), 0, 1),))
    lake = Lake.open(str(tmp_path / "lake"))
    result = run_batch(spec, engine=CountingEngine(), source=store, lake=lake,
                       engine_settings=EngineSettings(), limits=LimitSettings(), pipeline=QUIET)
    assert result.errors == 1
    [error] = lake.read_table("errors").to_pylist()
    assert error["source_uri"] == "s3://archive/drop/scan.png"
    assert error["message"].startswith("s3://archive/drop/scan.png: cannot open image: ")
    assert "ocr-src" not in error["message"] and "/tmp/" not in error["message"]
