"""Scores and figures of a benchmark run: accuracy on the pages, cost per page, the table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ocr_tasks.benchmark.pageset import BenchDoc
from ocr_tasks.benchmark.systems import STAGES, PageResult, Run
from ocr_tasks.evaluation.metrics import DetectionMetric, EndToEndCER


def score(docs: Sequence[BenchDoc], results: Iterable[PageResult]) -> dict[str, Any]:
    """Word detection H-mean and end-to-end CER of the results against the documents'
    truth; a page the system returned nothing for counts as read empty."""
    by_page = {(r.doc, r.index): r for r in results}
    detection, e2e = DetectionMetric(), EndToEndCER()
    missing = 0
    for doc in docs:
        for index, truth in enumerate(doc.truths):
            r = by_page.get((doc.path.name, index))
            missing += r is None
            boxes, texts, confs = (r.boxes, r.texts, r.confs) if r else ([], [], [])
            counted = truth.counted_words
            detection.update([w.box for w in counted], [w.box for w in truth.dontcare_words],
                             boxes, confs)
            e2e.update([w.box for w in counted], [w.text for w in counted], boxes, texts)
    det, cer = detection.summary(), e2e.summary()
    return {"hmean": _r(det["hmean"]), "precision": _r(det["precision"]),
            "recall": _r(det["recall"]), "e2e_cer": _r(cer["cer"]), "missing_pages": missing}


def stage_seconds(results: Sequence[PageResult], suffix: str = "_cpu") -> dict[str, float | None]:
    """Mean seconds per page of each stage (``suffix`` '_cpu': CPU, '': wall); None where the
    system does not report the stage."""
    out: dict[str, float | None] = {}
    for stage in STAGES:
        values = [r.timings[stage + suffix] for r in results if stage + suffix in r.timings]
        out[stage] = round(sum(values) / len(results), 4) if values and results else None
    return out


def figures(name: str, dataset: str, run: Run, docs: Sequence[BenchDoc],
            workers: int = 1) -> dict[str, Any]:
    """One row of the table: throughput, cost per page, stages, memory, accuracy."""
    pages = max(run.pages, 1)
    row: dict[str, Any] = {
        "system": name, "set": dataset, "pages": run.pages, "workers": workers,
        "pages_per_s": round(run.pages / run.wall_s, 3) if run.wall_s else None,
        "cpu_s_per_page": round(run.cpu_s / pages, 3),
        "stage_cpu_s": stage_seconds(run.results, "_cpu"),
        "stage_wall_s": stage_seconds(run.results, ""),
        "peak_rss_mb_per_worker": round(run.peak_rss_mb),
        **score(docs, run.results),
        **{k: v for k, v in run.extra.items() if k != "results"},
    }
    if "worker_cpu_s" in run.extra:
        row["worker_cpu_s_per_page"] = round(run.extra["worker_cpu_s"] / pages, 3)
    return row


COLUMNS = (("system", 12, "{}"), ("set", 6, "{}"), ("pages", 5, "{}"),
           ("pages_per_s", 7, "{:.2f}"), ("cpu_s_per_page", 7, "{:.3f}"),
           ("worker_cpu_s_per_page", 7, "{:.3f}"))
TAIL = (("peak_rss_mb_per_worker", 7, "{:.0f}"), ("hmean", 6, "{:.3f}"),
        ("e2e_cer", 6, "{:.3f}"))
HEADERS = {"pages_per_s": "pg/s", "cpu_s_per_page": "CPU/pg", "worker_cpu_s_per_page": "wCPU/pg",
           "peak_rss_mb_per_worker": "RSS MB",
           "hmean": "Hmean", "e2e_cer": "CER", "pages": "pages", "set": "set",
           "system": "system"}


def _cell(value: Any, width: int, fmt: str) -> str:
    text = "-" if value is None else fmt.format(value)
    return text.rjust(width)


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a fixed-width table: per system and set, pages/s (wall), CPU s/page (flows:
    all processes, and the Dask workers alone), the CPU seconds per page of each stage
    (flows: wall, marked ~), peak RSS per worker, H-mean, CER."""
    head = [HEADERS[k].rjust(w) for k, w, _ in COLUMNS]
    head += [s[:9].rjust(9) for s in STAGES]
    head += [HEADERS[k].rjust(w) for k, w, _ in TAIL]
    lines = [" ".join(head)]
    for row in rows:
        cells = [_cell(row.get(k), w, f) for k, w, f in COLUMNS]
        cpu = row["stage_cpu_s"]
        wall = row["stage_wall_s"]
        for stage in STAGES:
            value = cpu.get(stage)
            if value is not None:
                cells.append(_cell(value, 9, "{:.3f}"))
            elif wall.get(stage) is not None:
                cells.append(("~" + f"{wall[stage]:.3f}").rjust(9))
            else:
                cells.append("-".rjust(9))
        cells += [_cell(row.get(k), w, f) for k, w, f in TAIL]
        lines.append(" ".join(cells))
    return "\n".join(lines)


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(float(v), nd)
