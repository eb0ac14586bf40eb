"""``ocr-pipeline query LAKE "SQL"``: SQL over the lake's committed rows, with DuckDB.

Every table is a view over its committed files (the commit log's, never a glob), with the
``ingest_date`` partition column; ``documents_current`` holds each source uri's current
version. The logic lives in ``ocr_tasks.lake.query``; this module prints the result.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, TextIO

from ocr_tasks.cli.args import uri

FORMATS = ("table", "csv", "json")
CELL_WIDTH = 72  # longest cell of the table format; csv and json print values whole

EXAMPLES = """\
views: documents, pages, lines, words, errors, cer_samples, runs, batches (committed rows,
each with ingest_date) and documents_current (each source uri's current version)

examples:
  ocr-pipeline query lake "select status, count(*) from documents_current group by all"
  ocr-pipeline query lake "select d.source_uri, p.page, p.confidence from pages p
      join documents_current d using (doc_id) where p.needs_review" --format csv
  ocr-pipeline query s3://bucket/lake "select run_id, status, cer from runs" --format json
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "query", help="run SQL (DuckDB) over the lake's committed rows",
        description="Run one SQL statement over the lake with DuckDB. Every table is a view "
        "over its committed files only, as the commit log lists them: a batch being written, "
        "a dead run's files and files replaced by a compaction are not seen.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lake", type=uri, metavar="LAKE", help="folder or s3://bucket/prefix")
    p.add_argument("sql", metavar="SQL", help="one DuckDB SQL statement")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="output: aligned table, CSV with a header row, or a JSON list of "
                   "objects (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ocr_tasks.core.errors import ExitCode
    from ocr_tasks.lake.query import query
    from ocr_tasks.lake.tables import Lake

    result = query(Lake.open_existing(args.lake), args.sql)
    if not result.columns:
        return ExitCode.OK  # a statement without rows (SET, CREATE VIEW, COPY ... TO)
    rows = _rows(result.batches)
    if args.format == "csv":
        write_csv(result.columns, rows, sys.stdout)
    elif args.format == "json":
        write_json(result.columns, rows, sys.stdout)
    else:
        write_table(result.columns, rows, sys.stdout)
    return ExitCode.OK


def _rows(batches: Iterator[Any]) -> Iterator[tuple[Any, ...]]:
    for batch in batches:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        yield from zip(*columns, strict=True)


def _plain(value: Any) -> Any:
    """A value as JSON has it: timestamps in ISO 8601, bytes as hex, the rest as is."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _text(value: Any) -> str:
    """A value as one cell of text: NULL as empty, lists and structs as JSON."""
    if value is None:
        return ""
    plain = _plain(value)
    if isinstance(plain, list | dict):
        return json.dumps(plain, ensure_ascii=False)
    return str(plain)


def write_csv(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(v) for v in row])


def write_json(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    """A JSON list of objects, one per row, written row by row."""
    out.write("[")
    for n, row in enumerate(rows):
        record = {c: _plain(v) for c, v in zip(columns, row, strict=True)}
        out.write(("," if n else "") + "\n  " + json.dumps(record, ensure_ascii=False))
    out.write("\n]\n" if columns else "]\n")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = _text(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool)
                                 for v in present)


def write_table(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    """Aligned columns (numbers to the right), cells cut at ``CELL_WIDTH`` characters with
    line breaks shown as ``\\n``, and the row count."""
    data = list(rows)
    cells = [[_cell(v) for v in row] for row in data]
    numeric = [_numeric([row[i] for row in data]) for i in range(len(columns))]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out.write(line(columns) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write(line(row) + "\n")
    out.write(f"({len(data)} row{'s' if len(data) != 1 else ''})\n")
