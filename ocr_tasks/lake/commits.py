"""The commit record: what makes a batch's files visible, and its one JSON format.

Only :class:`ocr_tasks.lake.tables.Lake` reads and writes these objects; everyone else gets
:class:`CommitRecord` instances from it. A record names every table the batch wrote, with
its row count and file (``None`` for a table the batch wrote no rows to), and the keys of
the export files it wrote (``OCR_EXPORTS``), which become visible with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ocr_tasks.core.errors import StorageError

COMMIT_FORMAT = 1


@dataclass(frozen=True)
class TableFile:
    """One table's share of a batch: its row count and the file holding them."""

    rows: int
    file: str | None


@dataclass(frozen=True)
class CommitRecord:
    """A committed batch: the run and day it belongs to and the files that hold its rows."""

    batch_id: str
    run_id: str
    ingest_date: str
    model_version: str
    tables: dict[str, TableFile] = field(default_factory=dict)
    committed_at: str = ""
    log_key: str = ""  # the log entry that makes it visible (see ``lake.log``)
    exports: tuple[str, ...] = ()  # export files (searchable PDF, hOCR, ...) of its documents

    @property
    def files(self) -> list[str]:
        """The data files the batch owns, in table order."""
        return [t.file for t in self.tables.values() if t.file]

    def rows(self, table: str) -> int:
        entry = self.tables.get(table)
        return entry.rows if entry else 0

    def to_json(self) -> bytes:
        return json.dumps({
            "format": COMMIT_FORMAT, "batch_id": self.batch_id, "run_id": self.run_id,
            "ingest_date": self.ingest_date, "model_version": self.model_version,
            "tables": {n: {"rows": t.rows, "file": t.file} for n, t in self.tables.items()},
            "files": self.files, "committed_at": self.committed_at, "log_key": self.log_key,
            "exports": list(self.exports),
        }, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> CommitRecord:
        """Parse a stored record; anything malformed is a :class:`StorageError` naming it."""
        try:
            raw: Any = json.loads(data)
            tables = {str(n): TableFile(int(t["rows"]), t.get("file"))
                      for n, t in raw["tables"].items()}
            return cls(str(raw["batch_id"]), str(raw["run_id"]), str(raw["ingest_date"]),
                       str(raw.get("model_version") or ""), tables,
                       str(raw.get("committed_at") or ""), str(raw.get("log_key") or ""),
                       tuple(str(k) for k in raw.get("exports") or ()))
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
            raise StorageError(f"commit record {where} is malformed: {e}") from e
