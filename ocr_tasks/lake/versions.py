"""Versions of a source object: the current one, and tombstones for objects that are gone.

A source uri gets a new version whenever its fingerprint changes (edited, replaced by a copy
of another document, re-uploaded); the ``documents`` table keeps every version, so history
stays queryable. The *current* version of a uri is the one written to the lake last; a uri
whose current version is a tombstone (status ``deleted``) is gone from the source.

The rule is written twice, side by side, and a test holds them together:
:func:`current_documents` (Arrow, for Python callers) and :data:`CURRENT_DOCUMENTS_SQL` (the
``documents_current`` view of ``ocr-pipeline query``, over a ``documents`` view).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ocr_tasks.lake.manifest import DELETED
from ocr_tasks.lake.tables import Lake


def _version(table: pa.Table) -> pa.Array:
    mtime = pc.cast(table["source_mtime"], pa.string())
    tag = pc.coalesce(table["source_etag"], mtime, pa.scalar(""))
    return pc.binary_join_element_wise(pc.cast(table["bytes"], pa.string()), tag, "|")


# A version is (bytes, etag or else mtime); the current one has the newest ingested_at of its
# uri (ties keep both); tombstoned uris are left out; rows sorted like current_documents.
CURRENT_DOCUMENTS_SQL = f"""
WITH versioned AS (
    SELECT *, CAST(bytes AS VARCHAR) || '|'
              || COALESCE(source_etag, CAST(source_mtime AS VARCHAR), '') AS _version
    FROM documents
), last AS (
    SELECT source_uri, _version, max(ingested_at) AS _last
    FROM versioned GROUP BY source_uri, _version
), newest AS (
    SELECT source_uri, max(_last) AS _newest FROM last GROUP BY source_uri
)
SELECT versioned.* EXCLUDE (_version)
FROM versioned
JOIN last USING (source_uri, _version)
JOIN newest USING (source_uri)
WHERE last._last = newest._newest AND versioned.status <> '{DELETED}'
ORDER BY source_uri, page_start
"""


def current_documents(lake: Lake, columns: list[str] | None = None) -> pa.Table:
    """``documents`` rows of each source uri's current version (all its page segments),
    leaving out uris whose current version is a tombstone."""
    docs = lake.read_table("documents")
    if docs.num_rows == 0:
        return docs.select(columns) if columns else docs
    docs = docs.append_column("_version", _version(docs))
    last = docs.group_by(["source_uri", "_version"]).aggregate([("ingested_at", "max")])
    newest = last.group_by("source_uri").aggregate([("ingested_at_max", "max")])
    newest = newest.rename_columns(["source_uri", "_newest"])
    pick = last.join(newest, "source_uri")
    pick = pick.filter(pc.equal(pick["ingested_at_max"], pick["_newest"]))
    # a filter, not a join: Arrow joins cannot carry list columns (``exports``)
    picked = pc.binary_join_element_wise(pick["source_uri"], pick["_version"], "\x00")
    mine = pc.binary_join_element_wise(docs["source_uri"], docs["_version"], "\x00")
    current = docs.filter(pc.is_in(mine, picked))
    current = current.filter(pc.not_equal(current["status"], DELETED))
    current = current.sort_by([("source_uri", "ascending"), ("page_start", "ascending")])
    keep = columns or [c for c in docs.column_names if c != "_version"]
    return current.select(keep)
