"""Quality and throughput of runs: history from the lake, and what a run publishes.

Plain code over lake tables, used by ``ocr-pipeline report`` and by ``flows.publish``, which
is called once by the flow after the run is recorded and creates, in the Prefect UI:

* table artifact ``ocr-batches``: the run's batches (pages, errors, CER, pages/s);
* markdown artifact ``ocr-quality-report``: verdict, CER by source, the CER trend over the
  last ``trend_runs`` runs (table and chart) and the lake paths;
* image artifact ``ocr-cer-trend``: the chart alone (a ``data:`` URI, no web server needed);
* event ``ocr.quality.degraded`` for every alert of the run's verdict (``quality.verdict``:
  customer pages and canaries judged apart, per batch and per run), for Prefect automations
  to alert on;
* when degraded, the run ends in a state named ``Degraded`` whose message says which pages,
  batches and by how much, of type FAILED so that the flow-run list shows it in red at a
  glance (the UI colours by type); its rows are committed and usable all the same.

Artifact keys carry the flow and the lake (:func:`artifact_key`), so two lakes or two flows
on one Prefect server keep their own "latest" report.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ocr_tasks.lake.tables import Lake
from ocr_tasks.quality.batch_quality import micro_cer
from ocr_tasks.quality.verdict import (
    CANARY,
    CUSTOMER,
    ScopeQuality,
    Verdict,
    read_samples,
    scopes_of,
)

DEGRADED_EVENT = "ocr.quality.degraded"
SOURCES = ("canary", "sidecar", "audit")


class MeasuredBatch(Protocol):
    """What the report needs of a batch's outcome (``pipeline.batch.BatchResult`` is one)."""

    @property
    def batch_id(self) -> str: ...
    @property
    def pages(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def canary_pages(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def pages_per_s(self) -> float: ...
    @property
    def worker(self) -> str: ...
    @property
    def cer(self) -> float | None: ...
    @property
    def cer_low(self) -> float | None: ...
    @property
    def cer_high(self) -> float | None: ...
    @property
    def replayed(self) -> bool: ...


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:.1%}-{high:.1%}"


def batch_table(results: Sequence[MeasuredBatch]) -> list[dict[str, Any]]:
    """One row per batch, as the Prefect table artifact shows it."""
    return [{
        "batch": r.batch_id, "pages": r.pages, "errors": r.errors, "canaries": r.canary_pages,
        "CER": _pct(r.cer), "CER 95% CI": _interval(r.cer_low, r.cer_high),
        "pages/s": round(r.pages_per_s, 2), "seconds": round(r.seconds, 1), "worker": r.worker,
        "replayed": r.replayed,
    } for r in results]


@dataclass(frozen=True)
class RunQuality:
    """One row of the history: the ``runs`` row plus the run's CER by source and by scope
    (customer pages, canaries; see ``quality.verdict``)."""

    run_id: str
    flow: str
    status: str
    started_at: datetime
    pages: int
    errors: int
    seconds: float
    pages_per_s: float
    cer: float | None
    cer_low: float | None
    cer_high: float | None
    by_source: dict[str, tuple[float | None, int]]  # source -> (CER, pages scored)
    by_scope: dict[str, ScopeQuality]
    model_version: str = ""


def run_history(lake: Lake, last: int) -> list[RunQuality]:
    """The last ``last`` runs, oldest first, with CER by source and by scope (audits
    returned since the run count for it too)."""
    runs = lake.recent_runs(last)
    batches: dict[str, list[str]] = {r["run_id"]: [] for r in runs}
    starts = [r["started_at"] for r in runs]
    since = None if not starts or None in starts else min(starts)
    for record in lake.run_commits(batches, since):
        batches[record.run_id].append(record.batch_id)
    history = []
    for run in runs:
        samples = read_samples(lake, batches[run["run_id"]])
        by_source = {}
        for source in SOURCES:
            rows = [s for s in samples if s["source"] == source]
            if rows:
                by_source[source] = (micro_cer(rows)[0], len(rows))
        scopes = scopes_of(samples)
        history.append(RunQuality(
            run["run_id"], run["flow"] or "", run["status"] or "", run["started_at"],
            int(run["pages"] or 0), int(run["errors"] or 0), float(run["seconds"] or 0.0),
            float(run["pages_per_s"] or 0.0), run["cer"], run["cer_low"], run["cer_high"],
            by_source, {q.scope: q for q in scopes}, run.get("model_version") or ""))
    return history


def model_table(history: Sequence[RunQuality], threshold: float) -> str:
    """Markdown table of CER by model version over the history (pages-weighted over runs):
    a promotion shows as a new row, and a slip after it as that row's CER above the old."""
    totals: dict[str, dict[str, list[float]]] = {}
    for h in history:
        per = totals.setdefault(h.model_version or "-", {})
        per.setdefault("runs", [0.0])[0] += 1
        for scope in (CUSTOMER, CANARY):
            q = h.by_scope.get(scope)
            if q is not None and q.cer is not None and q.pages:
                acc = per.setdefault(scope, [0.0, 0.0])
                acc[0] += q.cer * q.pages
                acc[1] += q.pages

    def cell(acc: list[float] | None) -> str:
        if not acc or not acc[1]:
            return "-"
        cer = acc[0] / acc[1]
        return f"{_pct(cer)} ({int(acc[1])}p){' (above)' if cer > threshold else ''}"

    lines = ["| model version | runs | customer CER | canary CER |", "|---|---|---|---|"]
    lines += [f"| {model} | {int(per['runs'][0])} | {cell(per.get(CUSTOMER))} | "
              f"{cell(per.get(CANARY))} |" for model, per in totals.items()]
    return "\n".join(lines)


def _scope_cell(q: ScopeQuality | None, threshold: float) -> str:
    if q is None or q.cer is None:
        return "-"
    flag = " (above)" if q.above(threshold) else ""
    return f"{_pct(q.cer)} ({q.pages}p){flag}"


def history_table(history: Sequence[RunQuality], threshold: float) -> str:
    """Markdown table of the history, newest first (also readable in a terminal). Customer
    pages (sidecars and audits) and canaries are flagged against the threshold apart; the
    CER over all sources is the ``runs`` table's figure."""
    lines = ["| started (UTC) | run | status | pages | errors | pages/s | CER all | 95% CI | "
             "customer | canary | sidecar | audit |", "|" + "---|" * 12]
    for h in reversed(history):
        scopes = [_scope_cell(h.by_scope.get(s), threshold) for s in (CUSTOMER, CANARY)]
        sources = [f"{_pct(h.by_source[s][0])} ({h.by_source[s][1]}p)" if s in h.by_source else "-"
                   for s in ("sidecar", "audit")]
        lines.append(f"| {h.started_at:%Y-%m-%d %H:%M} | {h.run_id[:8]} | {h.status} | {h.pages} | "
                     f"{h.errors} | {h.pages_per_s:.2f} | {_pct(h.cer)} | "
                     f"{_interval(h.cer_low, h.cer_high)} | {' | '.join(scopes + sources)} |")
    return "\n".join(lines)


def trend_chart(history: Sequence[RunQuality], threshold: float) -> bytes:
    """PNG: CER per run with its interval against the threshold, and pages/s below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 4), dpi=80, sharex=True,
                                  gridspec_kw={"height_ratios": [2, 1]})
    xs = list(range(len(history)))
    measured = [(x, h, h.cer) for x, h in zip(xs, history, strict=True) if h.cer is not None]
    if measured:
        ys = [c for _, _, c in measured]
        lows = [c - (h.cer_low if h.cer_low is not None else c) for _, h, c in measured]
        highs = [(h.cer_high if h.cer_high is not None else c) - c for _, h, c in measured]
        ax.errorbar([x for x, _, _ in measured], ys, yerr=[lows, highs], fmt="o-", capsize=3,
                    label="run CER (95% CI)")
    ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:.0%}")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylim(bottom=0)
    ax.set_title("CER per run")
    ax.legend(loc="upper left", fontsize=8)
    ax2.bar(xs, [h.pages_per_s for h in history], color="tab:gray")
    ax2.set_ylabel("pages/s")
    ax2.set_xticks(xs, [f"{h.started_at:%m-%d %H:%M}" for h in history], rotation=30,
                   fontsize=7, ha="right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def verdict_markdown(verdict: Verdict | None) -> str:
    """The verdict first: a heading, each scope against the threshold, then every alert."""
    if verdict is None or not verdict.measured:
        return "## OCR quality not measured\n\nNo canary, sidecar or audit samples in this run."
    threshold = verdict.threshold
    if verdict.degraded:
        which = " and ".join({CUSTOMER: "customer pages", CANARY: "canaries"}[s]
                             for s in verdict.degraded_scopes)
        head = f"## ⚠ OCR quality degraded: {which}"
    else:
        head = f"## OCR quality within threshold ({threshold:.0%})"
    parts = [head, "", f"Customer pages and canaries are judged apart against the CER "
             f"threshold of {threshold:.0%}.", "",
             "| pages | CER | 95% CI | pages scored | verdict |", "|---|---|---|---|---|"]
    names = {CUSTOMER: "customer pages (sidecars, audits)", CANARY: "canaries (synthetic)"}
    for q in verdict.scopes:
        state = ("not scored" if q.cer is None
                 else f"above {threshold:.0%}" if q.above(threshold) else "ok")
        if q.scope in verdict.degraded_scopes and not q.above(threshold):
            state = "ok for the run, above in a batch"
        parts.append(f"| {names[q.scope]} | {_pct(q.cer)} | {_interval(q.cer_low, q.cer_high)} "
                     f"| {q.pages} | {state} |")
    if verdict.alerts:
        parts += [""] + [f"- {a.describe()}" for a in verdict.alerts]
    return "\n".join(parts)


def report_markdown(summary: Any, history: Sequence[RunQuality], threshold: float,
                    chart_uri: str | None, paths: dict[str, str]) -> str:
    """The run's quality report: verdict first, then figures, trend and where the data is."""
    current = next((h for h in history if h.run_id == summary.run_id), None)
    parts = [verdict_markdown(summary.verdict), "", f"Run `{summary.run_id}`: {summary.describe()}",
             ""]
    if current is not None:
        ci = _interval(current.cer_low, current.cer_high)
        parts += [f"CER over all sources {_pct(current.cer)} (95% CI {ci}),"
                  " micro-averaged over pages, lines aligned by position before counting edits.",
                  "", "| source | CER | pages |", "|---|---|---|"]
        parts += [f"| {s} | {_pct(cer)} | {n} |" for s, (cer, n) in current.by_source.items()]
        parts.append("")
    parts += [f"### CER trend, last {len(history)} runs", ""]
    if chart_uri:
        parts += [f"![CER trend]({chart_uri})", ""]
    parts += [history_table(history, threshold), "", "### CER by model version", ""]
    parts += [model_table(history, threshold), "", "### Lake", ""]
    parts += [f"- {name}: `{path}`" for name, path in paths.items()]
    return "\n".join(parts)


FLOW_LABELS = {"nightly_ingest": "nightly"}
_KEY_MAX = 80


def flow_label(flow: str) -> str:
    """Short name of a flow in run names and keys: ``nightly`` for ``nightly_ingest``."""
    return FLOW_LABELS.get(flow) or re.sub(r"[^a-z0-9]+", "-", flow.lower()).strip("-")


def lake_slug(lake_uri: str) -> str:
    """A short, stable name of a lake for keys and run names: its last path segment and a
    hash of its whole uri (``lake-3fa2b1``), lowercase letters, digits and dashes only."""
    uri = lake_uri.rstrip("/")
    name = re.sub(r"[^a-z0-9]+", "-", uri.rsplit("/", 1)[-1].lower())[:24].strip("-")
    digest = hashlib.sha256(uri.encode()).hexdigest()[:6]
    return f"{name}-{digest}" if name else digest


def artifact_key(kind: str, flow: str, lake_uri: str) -> str:
    """The Prefect artifact key of ``kind`` for this flow and lake, e.g.
    ``ocr-quality-report-nightly-lake-3fa2b1``: each flow and lake keeps its own "latest"
    (Prefect keys allow lowercase letters, digits and dashes)."""
    key = f"{kind}-{flow_label(flow)}-{lake_slug(lake_uri)}"
    return key[:_KEY_MAX].strip("-")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
