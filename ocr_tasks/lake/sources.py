"""What counts as a source document, and the one fingerprint that says it is unchanged.

Discovery (what to OCR), the manifest (what the lake holds) and verify (what it must hold)
all apply these rules, so they cannot disagree about a listed object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ocr_tasks.core.errors import InvalidKey
from ocr_tasks.io.storage import ObjectInfo, ObjectStore, escape_undecodable
from ocr_tasks.truth import SIDECAR_SUFFIXES

# Sidecar ground truth (its suffixes are ``truth``'s) and bookkeeping files are not documents.
IGNORED_NAMES = (".DS_Store", "Thumbs.db")

# (source uri, size, etag or mtime): what identifies an unchanged source object unread.
Fingerprint = tuple[str, int, str]


def fingerprint(uri: str, size: int, etag: str | None, mtime: datetime | None) -> Fingerprint:
    """The one document fingerprint, for listed objects and ``documents`` rows alike."""
    return (uri, int(size or 0), etag or (mtime.isoformat() if mtime else ""))



@dataclass(frozen=True)
class SourceRef:
    """Where a document lives. Small and picklable: this is what crosses to workers."""

    key: str
    uri: str
    size: int
    mtime: datetime
    etag: str | None = None

    @property
    def fingerprint(self) -> Fingerprint:
        """What identifies an unchanged object without reading it."""
        return fingerprint(self.uri, self.size, self.etag, self.mtime)



def is_document_key(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    if name in IGNORED_NAMES or name.startswith("."):
        return False
    return not key.endswith(SIDECAR_SUFFIXES)



def source_ref(store: ObjectStore, info: ObjectInfo) -> SourceRef:
    """A listed object as work. A key the store refuses (S3 allows ``../x``) keeps a uri for
    the record only: probing it fails with ``invalid_key``, so it is an error row, never read.
    The key keeps the name's exact bytes (to read it); the uri, which goes into the lake, has
    undecodable bytes escaped (``io.storage.escape_undecodable``)."""
    try:
        uri = store.uri(info.key)
    except InvalidKey:
        uri = f"{store.root_uri}/{info.key}"
    return SourceRef(info.key, escape_undecodable(uri), info.size, info.mtime, info.etag)
