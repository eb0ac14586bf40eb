"""Versions of a source object: the current one, and tombstones for objects that are gone.

A source uri gets a new version whenever its fingerprint changes (edited, replaced by a copy
of another document, re-uploaded); the ``documents`` table keeps every version, so history
stays queryable. The *current* version of a uri is the one written to the lake last; a uri
whose current version is a tombstone (status ``deleted``) is gone from the source.
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
    current = docs.join(pick.select(["source_uri", "_version"]), ["source_uri", "_version"],
                        join_type="inner")
    current = current.filter(pc.not_equal(current["status"], DELETED))
    current = current.sort_by([("source_uri", "ascending"), ("page_start", "ascending")])
    keep = columns or [c for c in docs.column_names if c != "_version"]
    return current.select(keep)
