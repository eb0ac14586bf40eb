"""A fault of one document stays that document's: in probing (its own error probe, never its
chunk's; a probe task that fails for good costs only its own documents) and in its error rows
(a message naming a file that is not UTF-8 must not fail the batch's Parquet write)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocr_tasks.core.config import LimitSettings
from ocr_tasks.core.errors import StorageError, StorageUnreachable, Unreadable
from ocr_tasks.io.storage import LocalStore, ObjectStore
from ocr_tasks.lake.rows import BatchContext
from ocr_tasks.lake.schema import rows_to_table
from ocr_tasks.lake.sources import SourceRef
from ocr_tasks.pipeline import discovery
from ocr_tasks.pipeline.batch import error_record
from ocr_tasks.pipeline.discovery import (
    Probe,
    chunk_failed,
    placeholder_doc_id,
    probe_alone,
    probe_documents,
)
from ocr_tasks.pipeline.planning import WorkItem

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ref(name: str) -> SourceRef:
    return SourceRef(name, f"/src/{name}", 10, T0)


def test_an_unexpected_fault_probing_one_document_is_that_documents_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = discovery.probe_document

    def buggy(store: ObjectStore, r: SourceRef, limits: LimitSettings) -> Probe:
        if r.key == "bad.png":
            raise RuntimeError("a bug outside probe_document's own guard")
        return real(store, r, limits)

    monkeypatch.setattr(discovery, "probe_document", buggy)
    (tmp_path / "a.txt").write_bytes(b"just text\n")
    store = LocalStore(tmp_path)
    a, bad = probe_documents(store, [ref("a.txt"), ref("bad.png")], LimitSettings())
    assert (a.ref.key, a.error_kind) == ("a.txt", "unsupported")  # probed as usual
    assert (bad.ref.key, bad.error_kind, bad.retryable) == ("bad.png", "internal", False)
    assert bad.doc_id == placeholder_doc_id("/src/bad.png")
    assert bad.error_message == "RuntimeError: a bug outside probe_document's own guard"


def test_an_unreachable_store_still_fails_the_chunk_for_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(store: ObjectStore, r: SourceRef, limits: LimitSettings) -> Probe:
        raise StorageUnreachable("S3 endpoint http://s3:9000 unreachable")

    monkeypatch.setattr(discovery, "probe_document", down)
    with pytest.raises(StorageUnreachable):
        probe_documents(LocalStore(tmp_path), [ref("a.png")], LimitSettings())


def test_a_failed_probe_task_becomes_retryable_error_probes_for_its_documents() -> None:
    refs = [ref("a.pdf"), ref("b.pdf")]
    probes = chunk_failed(refs, RuntimeError("KilledWorker"))
    assert [p.ref for p in probes] == refs
    assert all(p.error_kind == "batch_failed" and p.retryable and p.pages == 0 for p in probes)
    assert probes[0].error_message == "probe task failed: RuntimeError: KilledWorker"
    assert probes[0].doc_id == placeholder_doc_id("/src/a.pdf")
    [down] = chunk_failed(refs[:1], StorageUnreachable("endpoint down"))
    assert (down.error_kind, down.retryable) == ("storage_unreachable", True)


def test_only_chunks_that_may_hold_one_bad_file_are_probed_again_one_by_one() -> None:
    two = [ref("a.pdf"), ref("b.pdf")]
    assert probe_alone(two, RuntimeError("KilledWorker"))
    assert not probe_alone(two[:1], RuntimeError("KilledWorker"))  # already alone
    for fault in (StorageError("503"), StorageUnreachable("down"), Unreadable("403")):
        assert not probe_alone(two, fault)  # the store's fault: each would fail alike


def test_an_error_message_naming_a_non_utf8_file_is_escaped_and_writable() -> None:
    probe = Probe(ref("Schr\\xf6der_scan.png"), "d1", "png", 1)
    sidecar = os.fsdecode(b"/src/Schr\xf6der_scan.gt.json")  # as LocalStore.uri gives it
    row = error_record(WorkItem(probe, 0, 1), None, "bad_sidecar",
                       f"sidecar {sidecar} ignored: not a FUNSD annotation", False,
                       BatchContext("r1", "b1", "2026-01-01", "m"), T0)
    assert row.message == "sidecar /src/Schr\\xf6der_scan.gt.json ignored: not a FUNSD annotation"
    assert rows_to_table("errors", [row.to_dict()]).num_rows == 1
