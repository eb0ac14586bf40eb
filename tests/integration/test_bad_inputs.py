"""Bad inputs through the real flow and engine: each file gets its exact error kind and a clear
message, the good files in the same batches are OCR'd, and verify passes.

Every input is made here (see tests/resources/README.md for the makers in test_rasterize.py).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from ocr_tasks.io.storage import LocalStore, ObjectInfo, open_store
from ocr_tasks.lake.tables import Lake
from ocr_tasks.lake.verify import verify_lake
from ocr_tasks.pipeline import job
from tests.faults import FaultPlan, FaultProxy, no_canaries, run_flow_in_process
from tests.integration.conftest import text_page
from tests.unit.test_rasterize import bomb_png, encrypted_pdf, make_tiff, page_image

pytestmark = pytest.mark.usefixtures("prefect_api", "no_canaries")
__all__ = ["no_canaries"]  # a fixture, used through pytestmark

UNICODE_NAME = "ünïcödé/日本語 Schäden 'quoted' \"double\".png"
SPACES_NAME = "dir with spaces/claim 1.png"
TRAVERSAL = ("../outside.pdf", "claims/../../etc/passwd.pdf")


def pdf_bytes(pages: int) -> bytes:
    buf = io.BytesIO()
    first, *rest = [page_image(label=i) for i in range(pages)]
    first.save(buf, "PDF", save_all=True, append_images=rest, resolution=72)
    return buf.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", dpi=(150, 150))
    return buf.getvalue()


def build_bad_archive(src: Path) -> dict[str, tuple[str, list[str]]]:
    """Write every bad input plus good files; returns key -> (documents.status, error kinds)."""
    src.mkdir(parents=True)
    pdf3 = pdf_bytes(3)
    files: dict[str, bytes] = {
        "empty.pdf": b"",
        "truncated.pdf": pdf3[: int(len(pdf3) * 0.6)],
        "cut-trailer.pdf": pdf3[: pdf3.rfind(b"startxref") - 10],  # poppler repairs it
        "broken-xref.pdf": pdf3.rpartition(b"startxref")[0] + b"startxref\n999999\n%%EOF\n",
        "notes.txt": b"Dear claims team,\nplease find my claim attached.\n",
        "report.docx": _docx(),
        "good/claim.png": png_bytes(text_page(["Claim CLM-2025-0417", "Insured Maria Keller"],
                                              size=(700, 220))),
        UNICODE_NAME: png_bytes(text_page(["Policy POL-7781"], size=(500, 140))),
        SPACES_NAME: png_bytes(page_image()),
    }
    for key, data in files.items():
        (src / key).parent.mkdir(parents=True, exist_ok=True)
        (src / key).write_bytes(data)
    encrypted_pdf(src / "locked.pdf", user_pw="not-the-configured-one")
    encrypted_pdf(src / "locked-known.pdf", user_pw="s3cret")
    pdfium.PdfDocument.new().save(str(src / "zero-pages.pdf"))
    poster = pdfium.PdfDocument.new()
    poster.new_page(14400, 14400)  # 200 x 200 inches: 40000 x 40000 px at 200 dpi
    poster.new_page(200, 100)
    poster.save(str(src / "poster.pdf"))
    bomb_png(src / "bomb.png", 60_000, 60_000)
    make_tiff(src / "many-frames.tif", frames=150)  # over OCR_LIMIT_MAX_PAGES=100
    page_image().save(src / "invoice.pdf", "JPEG", quality=90)  # a JPEG named .pdf
    rng = np.random.default_rng(0)
    noisy = png_bytes(Image.fromarray(rng.integers(0, 255, (300, 300, 3), np.uint8)))
    (src / "cut.png").write_bytes(noisy[: len(noisy) // 2])
    return {
        "empty.pdf": ("error", ["empty"]),
        "truncated.pdf": ("error", ["corrupt"]),
        "cut-trailer.pdf": ("ok", []),
        "broken-xref.pdf": ("ok", []),
        "locked.pdf": ("error", ["encrypted"]),
        "locked-known.pdf": ("ok", []),
        "zero-pages.pdf": ("error", ["empty"]),
        "poster.pdf": ("partial", ["too_large"]),
        "bomb.png": ("error", ["too_large"]),
        "many-frames.tif": ("error", ["too_large"]),
        "invoice.pdf": ("ok", []),
        "notes.txt": ("error", ["unsupported"]),
        "report.docx": ("error", ["unsupported"]),
        "cut.png": ("error", ["corrupt"]),
        "good/claim.png": ("ok", []),
        UNICODE_NAME: ("ok", []),
        SPACES_NAME: ("ok", []),
        **{key: ("error", ["invalid_key"]) for key in TRAVERSAL},
    }


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


class TraversalListing(LocalStore):
    """A folder whose listing also names keys that S3 accepts (AWS does; SeaweedFS refuses to
    store them) but that point outside the prefix."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        extra = [ObjectInfo(k, 1234, datetime(2026, 1, 1, tzinfo=UTC)) for k in TRAVERSAL]
        yield from sorted([*super().list(prefix), *extra], key=lambda i: i.key)


def outcomes(lake: Lake, root: str) -> dict[str, tuple[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    for e in lake.read_table("errors").to_pylist():
        errors.setdefault(e["source_uri"], []).append(e["kind"])
    return {d["source_uri"][len(root) + 1:]: (d["status"], sorted(errors.get(d["source_uri"], [])))
            for d in lake.read_table("documents").to_pylist()}


def messages(lake: Lake) -> dict[str, str]:
    return {Path(e["source_uri"]).name: e["message"] for e in lake.read_table("errors").to_pylist()}


def test_every_bad_input_gets_its_kind_and_the_rest_is_ocrd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    expected = build_bad_archive(src)
    (tmp_path / "outside.pdf").write_bytes(pdf_bytes(1))  # what "../outside.pdf" would reach
    monkeypatch.setenv("OCR_LIMIT_PDF_PASSWORD", "s3cret")
    monkeypatch.setenv("OCR_LIMIT_MAX_PAGES", "100")
    real_open = job.open_store
    monkeypatch.setattr(job, "open_store", lambda uri, s3=None: TraversalListing(uri)
                        if uri == str(src) else real_open(uri, s3))

    state = run_flow_in_process(str(src), str(lake_dir), batch_pages=4)
    assert state.is_completed(), state
    lake = Lake.open(str(lake_dir))
    assert outcomes(lake, str(src)) == expected

    pages = lake.read_table("pages").to_pylist()
    docs = {d["doc_id"]: d["source_uri"] for d in lake.read_table("documents").to_pylist()}
    by_name = {(docs[p["doc_id"]][len(str(src)) + 1:], p["page"]): p["text"] for p in pages}
    assert "CLM-2025-0417" in by_name[("good/claim.png", 0)]
    assert "POL-7781" in by_name[(UNICODE_NAME, 0)]
    assert {("cut-trailer.pdf", i) for i in range(3)} <= set(by_name)  # repaired, all pages
    assert {("broken-xref.pdf", 0), ("broken-xref.pdf", 1), ("broken-xref.pdf", 2),
            ("poster.pdf", 1), ("locked-known.pdf", 0), ("invoice.pdf", 0)} <= set(by_name)
    assert ("poster.pdf", 0) not in by_name

    said = messages(lake)
    assert "OCR_LIMIT_PDF_PASSWORD does not open it" in said["locked.pdf"]
    assert "150 pages exceeds OCR_LIMIT_MAX_PAGES=100" in said["many-frames.tif"]
    assert "40000x40000" in said["poster.pdf"] and "OCR_LIMIT_MAX_PIXELS" in said["poster.pdf"]
    assert "text file" in said["notes.txt"] and "office document" in said["report.docx"]
    assert "empty (0 bytes)" in said["empty.pdf"] and "no pages" in said["zero-pages.pdf"]
    assert "'..'" in said["outside.pdf"] and "'..'" in said["passwd.pdf"]
    assert all(not e["retryable"] for e in lake.read_table("errors").to_pylist())

    report = verify_lake(lake, TraversalListing(str(src)))
    assert report.ok, report.problems
    assert (report.documents, report.processed, report.errored) == (19, 8, 11)

    again = run_flow_in_process(str(src), str(lake_dir), batch_pages=4)
    assert (again.result().documents, again.result().batches) == (0, 0)  # final outcomes stay


def test_render_timeout_and_missing_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renderer that exceeds OCR_LIMIT_RENDER_TIMEOUT_S is killed and the file is 'timeout'."""
    src, lake_dir = tmp_path / "in", tmp_path / "lake"
    src.mkdir()
    pdf3 = pdf_bytes(3)
    (src / "cut-trailer.pdf").write_bytes(pdf3[: pdf3.rfind(b"startxref") - 10])
    encrypted_pdf(src / "locked.pdf", user_pw="s3cret")
    monkeypatch.delenv("OCR_LIMIT_PDF_PASSWORD", raising=False)
    monkeypatch.setenv("OCR_LIMIT_RENDER_TIMEOUT_S", "0.001")
    assert run_flow_in_process(str(src), str(lake_dir)).is_completed()
    lake = Lake.open(str(lake_dir))
    assert outcomes(lake, str(src)) == {"cut-trailer.pdf": ("error", ["timeout"]),
                                        "locked.pdf": ("error", ["encrypted"])}
    said = messages(lake)
    assert "OCR_LIMIT_RENDER_TIMEOUT_S=0.001" in said["cut-trailer.pdf"]
    assert "needs a password: set OCR_LIMIT_PDF_PASSWORD" in said["locked.pdf"]
    assert verify_lake(lake, open_store(str(src))).ok


def test_s3_objects_that_cannot_be_read(
    tmp_path: Path, s3_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One object is forbidden (403 from the endpoint), one vanishes between listing and
    reading: both are 'unreadable' and retryable, the good one is OCR'd, verify passes."""
    client = s3_endpoint.client()
    bucket = s3_endpoint.make_bucket()
    good = png_bytes(text_page(["Claim CLM-2025-0999"], size=(500, 140)))
    for key in ("good.png", "forbidden.png", "vanished.png"):
        client.put_object(Bucket=bucket, Key=f"drop/{key}", Body=good if key == "good.png" else
                          png_bytes(page_image(label=len(key))))
    proxy = FaultProxy(s3_endpoint.endpoint_url, FaultPlan(deny=("forbidden.png",))).start()
    try:
        monkeypatch.setenv("OCR_S3_ENDPOINT_URL", proxy.endpoint_url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret_key)
        monkeypatch.setenv("OCR_S3_MAX_ATTEMPTS", "2")
        real_waves = job.candidate_waves

        def listed_then_deleted(state: job.RunState) -> Iterator[list[Any]]:
            for wave in real_waves(state):
                client.delete_object(Bucket=bucket, Key="drop/vanished.png")
                yield wave

        monkeypatch.setattr(job, "candidate_waves", listed_then_deleted)
        source, lake_uri = f"s3://{bucket}/drop", f"s3://{bucket}/lake"
        assert run_flow_in_process(source, lake_uri).is_completed()
        lake = Lake.open(lake_uri)
        assert outcomes(lake, source) == {"good.png": ("ok", []),
                                          "forbidden.png": ("error", ["unreadable"]),
                                          "vanished.png": ("error", ["unreadable"])}
        errors = lake.read_table("errors").to_pylist()
        assert all(e["retryable"] for e in errors)
        assert {m.rsplit(": ", 1)[-1] for m in messages(lake).values()} == {"AccessDenied",
                                                                           "NoSuchKey"}
        report = verify_lake(lake, open_store(source))
        assert report.ok and (report.processed, report.pending_retry) == (1, 1), report
        assert proxy.faults_of("403") >= 1
    finally:
        proxy.stop()


def test_kinds_do_not_leak_between_documents_of_one_worker(tmp_path: Path) -> None:
    """PDFium's last-error code is process-wide: after an encrypted PDF, a zero-page PDF once
    came out as 'encrypted'. Each document must get its own kind whatever came before."""
    from ocr_tasks.core.config import LimitSettings
    from ocr_tasks.core.errors import EmptyInput, EncryptedInput
    from ocr_tasks.io.rasterize import page_count

    encrypted_pdf(tmp_path / "locked.pdf", user_pw="s3cret")
    pdfium.PdfDocument.new().save(str(tmp_path / "zero.pdf"))
    for name, kind in [("locked.pdf", EncryptedInput), ("zero.pdf", EmptyInput)] * 2:
        with pytest.raises(kind):
            page_count(tmp_path / name, LimitSettings())
