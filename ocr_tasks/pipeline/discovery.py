"""Find source documents that still need work, and probe them (identity, format, pages).

Discovery is split in two so it scales to millions of objects:

1. ``list_candidates`` streams the source listing in the flow process and drops objects the
   lake already knows by (uri, size, etag/mtime): no object is read for those.
2. ``probe_documents`` runs on workers over chunks of candidates: it reads each object once
   to compute its content hash (the document id, so renamed or re-uploaded files are
   recognised) and its page count (needed to plan batches of pages). A document that cannot
   be probed becomes a probe carrying the error, so it ends up as an error row, never lost.
   Whatever goes wrong probing one document is that document's error, never its chunk's; a
   probe task that fails for good anyway (a worker killed by a parser crash, storage down
   after its retries) costs only its own documents: :func:`chunk_failed` turns them into
   retryable error probes, and the run goes on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from ocr_tasks.core.config import LimitSettings
from ocr_tasks.core.errors import (
    OcrPipelineError,
    StorageError,
    StorageUnreachable,
    TooLarge,
    error_kind,
    is_retryable,
)
from ocr_tasks.io.storage import ObjectStore, file_content_id
from ocr_tasks.lake.sources import Fingerprint, SourceRef, is_document_key, source_ref

log = logging.getLogger(__name__)

# Probe.error_kind of a document whose content the lake already holds: not an error row.
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Probe:
    """A probed document: its id and page count, or the error that stopped it."""

    ref: SourceRef
    doc_id: str
    format: str | None = None
    pages: int = 0
    error_kind: str | None = None
    error_message: str | None = None
    retryable: bool = False

    @property
    def failed(self) -> bool:
        return self.error_kind is not None


def list_candidates(
    store: ObjectStore,
    known_fingerprints: Container[Fingerprint],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    listed: Callable[[str], None] | None = None,
) -> Iterator[SourceRef]:
    """Stream source objects not yet in the lake, in key order (so runs are repeatable);
    ``listed`` sees the uri of every document object listed (for tombstones)."""
    emitted = 0
    for info in store.list():
        if not is_document_key(info.key):
            continue
        if listed is not None:
            listed(source_ref(store, info).uri)
        if since is not None and info.mtime < since:
            continue
        if until is not None and info.mtime >= until:
            continue
        ref = source_ref(store, info)
        if ref.fingerprint in known_fingerprints:
            continue
        yield ref
        emitted += 1
        if limit is not None and emitted >= limit:
            return


def placeholder_doc_id(uri: str) -> str:
    """Id for an object whose content could not be read: stable per source uri."""
    return "uri-" + hashlib.sha256(uri.encode()).hexdigest()


def probe_document(store: ObjectStore, ref: SourceRef, limits: LimitSettings) -> Probe:
    """Hash and count pages of one document; input faults become a failed probe.

    Storage faults that are not about this object (endpoint down) propagate, so the task
    is retried instead of every document being marked unreadable.
    """
    from ocr_tasks.io import rasterize

    doc_id = placeholder_doc_id(ref.uri)
    try:
        if ref.size > limits.max_bytes:
            raise TooLarge(f"{ref.size} bytes exceeds the limit of {limits.max_bytes} bytes")
        with store.local_path(ref.key) as path:
            doc_id = file_content_id(path)
            fmt = rasterize.sniff_format(path, ref.uri)
            pages = rasterize.page_count(path, limits, fmt=fmt, name=ref.uri)
        return Probe(ref, doc_id, fmt, pages)
    except StorageUnreachable:
        raise
    except OcrPipelineError as exc:
        return Probe(ref, doc_id, None, 0, exc.kind, exc.message, exc.retryable)
    except Exception as exc:  # a parser bug must not lose the document
        log.exception("probe of %s failed unexpectedly", ref.uri)
        return Probe(ref, doc_id, None, 0, error_kind(exc), f"{type(exc).__name__}: {exc}")


def probe_documents(
    store: ObjectStore, refs: Iterable[SourceRef], limits: LimitSettings
) -> list[Probe]:
    """Probe a chunk; a fault of one document (even outside ``probe_document``'s own guard)
    is that document's error probe. Only an unreachable store stops the chunk (retried)."""
    probes = []
    for ref in refs:
        try:
            probes.append(probe_document(store, ref, limits))
        except StorageUnreachable:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded as this document's error row
            log.exception("probe of %s failed unexpectedly", ref.uri)
            probes.append(Probe(ref, placeholder_doc_id(ref.uri), None, 0, error_kind(exc),
                                f"{type(exc).__name__}: {exc}", is_retryable(exc)))
    return probes


def probe_alone(refs: list[SourceRef], exc: BaseException) -> bool:
    """Whether the documents of a probe task that failed for good are worth probing again
    one per task: yes, unless the fault is the store's (it would fail each alike) or the task
    held one document already."""
    return len(refs) > 1 and not isinstance(exc, StorageError)


PROBE_FAILED = "batch_failed"  # kind of the documents of a probe task that failed for good


def chunk_failed(refs: Iterable[SourceRef], exc: BaseException) -> list[Probe]:
    """The documents of a probe task that failed after its retries: each becomes a retryable
    error probe (kind ``batch_failed``, or the fault's own kind such as ``storage_unreachable``),
    so they get error rows, the next run probes them again, and ``OCR_MAX_ATTEMPTS`` failed
    runs end in ``gave_up``. Documents of other chunks are not touched."""
    kind = error_kind(exc) if error_kind(exc) != "internal" else PROBE_FAILED
    message = f"probe task failed: {type(exc).__name__}: {exc}"
    return [Probe(ref, placeholder_doc_id(ref.uri), None, 0, kind, message, True) for ref in refs]


def as_duplicate(probe: Probe) -> Probe:
    """The probe of an object whose content the lake (or this run) already holds: it keeps a
    ``documents`` row of its own, status ``duplicate``, and no pages are processed again."""
    return replace(probe, pages=0, error_kind=DUPLICATE,
                   error_message="same content as an already ingested document")
