"""A run's quality verdict: the one place that decides whether a run is degraded.

Customer pages (``sidecar`` and ``audit`` samples) and canaries (synthetic pages) are judged
apart, each against the CER threshold: canaries measure the pipeline on known, generated
scans, customer pages measure what the customer gets, and one CER over both would let a bad
canary set hide good customer pages (or the reverse) behind a figure that is neither.

A verdict holds, per scope, the run's micro CER over its scored pages, and an :class:`Alert`
for every scope above the threshold: per batch measured in this run (not replayed), then per
run. A run with any alert is **degraded**: ``pipeline.job`` records ``runs.status =
'degraded'``, the CLI exits with ``ExitCode.DEGRADED``, and ``flows.publish`` turns each
alert into an ``ocr.quality.degraded`` event and the run into a FAILED-type state named
``Degraded`` (red in the Prefect UI's run list; the data is committed all the same).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ocr_tasks.lake.tables import Lake
from ocr_tasks.quality.batch_quality import micro_cer

CUSTOMER = "customer"
CANARY = "canary"
SCOPES: tuple[str, ...] = (CUSTOMER, CANARY)
SCOPE_SOURCES: dict[str, tuple[str, ...]] = {CUSTOMER: ("sidecar", "audit"), CANARY: ("canary",)}
LABELS = {CUSTOMER: "customer pages", CANARY: "canaries"}
SAMPLE_COLUMNS = ["batch_id", "source", "level", "edits", "ref_chars"]


def scope_of(source: str) -> str:
    """``canary`` for canary samples, ``customer`` for sidecars and audits."""
    return CANARY if source in SCOPE_SOURCES[CANARY] else CUSTOMER


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _pages(n: int) -> str:
    return f"{n} page{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class ScopeQuality:
    """The micro CER of one scope's scored pages (``cer`` None when none was scored)."""

    scope: str
    pages: int
    cer: float | None
    cer_low: float | None
    cer_high: float | None

    def above(self, threshold: float) -> bool:
        return self.cer is not None and self.cer > threshold

    def describe(self, threshold: float) -> str:
        if self.cer is None:
            return f"{LABELS[self.scope]} not scored"
        where = f"above {threshold:.0%}" if self.above(threshold) else "ok"
        return f"{LABELS[self.scope]} CER {_pct(self.cer)} ({_pages(self.pages)}) {where}"


def scope_quality(rows: Iterable[dict[str, Any]], scope: str) -> ScopeQuality:
    """A scope's quality from ``cer_samples`` rows (page rows count; others are ignored)."""
    mine = [r for r in rows if r["level"] == "page" and scope_of(r["source"]) == scope]
    cer, low, high = micro_cer(mine)
    return ScopeQuality(scope, sum(1 for r in mine if r["ref_chars"]), cer, low, high)


def scopes_of(samples: Iterable[dict[str, Any]]) -> tuple[ScopeQuality, ...]:
    """Every scope's quality over these samples, in ``SCOPES`` order."""
    rows = list(samples)
    return tuple(scope_quality(rows, scope) for scope in SCOPES)


@dataclass(frozen=True)
class Alert:
    """One scope of a batch (or, with ``batch_id`` None, of the whole run) above the
    threshold."""

    run_id: str
    batch_id: str | None
    scope: str
    cer: float
    cer_low: float | None
    cer_high: float | None
    pages: int
    threshold: float

    @property
    def resource(self) -> str:
        """What the alert is about, as an event resource id."""
        return f"ocr.batch.{self.batch_id}" if self.batch_id else f"ocr.run.{self.run_id}"

    def describe(self) -> str:
        where = f"batch {self.batch_id}" if self.batch_id else f"run {self.run_id}"
        return (f"{LABELS[self.scope]} of {where}: CER {_pct(self.cer)} > "
                f"{self.threshold:.0%} ({_pages(self.pages)})")


@dataclass(frozen=True)
class Verdict:
    """The run's quality per scope and its alerts; degraded when there is any alert."""

    run_id: str
    threshold: float
    scopes: tuple[ScopeQuality, ...]
    alerts: tuple[Alert, ...] = ()

    @property
    def degraded(self) -> bool:
        return bool(self.alerts)

    @property
    def measured(self) -> bool:
        return any(s.cer is not None for s in self.scopes)

    def scope(self, name: str) -> ScopeQuality:
        return next(s for s in self.scopes if s.scope == name)

    @property
    def degraded_scopes(self) -> list[str]:
        """The scopes with an alert (of the run or of any batch), in ``SCOPES`` order."""
        hit = {a.scope for a in self.alerts}
        return [s for s in SCOPES if s in hit]

    def describe(self) -> str:
        """One line: each scope's CER against the threshold, then the batches above it."""
        if not self.measured:
            return "quality not measured (no canary, sidecar or audit pages scored)"
        head = "quality DEGRADED" if self.degraded else "quality ok"
        parts = [s.describe(self.threshold) for s in self.scopes]
        batches = [a for a in self.alerts if a.batch_id is not None]
        text = f"{head} (CER threshold {self.threshold:.0%}): " + ", ".join(parts)
        if batches:
            text += "; above in " + ", ".join(
                f"batch {a.batch_id} ({LABELS[a.scope]} {_pct(a.cer)})" for a in batches)
        return text

    def payload(self) -> dict[str, Any]:
        """Each scope's figures, for events (JSON-ready)."""
        return {s.scope: {"cer": s.cer, "cer_low": s.cer_low, "cer_high": s.cer_high,
                          "pages": s.pages, "degraded": s.scope in self.degraded_scopes}
                for s in self.scopes}


def judge(run_id: str, samples: Sequence[dict[str, Any]], threshold: float,
          replayed: Collection[str] = ()) -> Verdict:
    """The verdict over a run's ``cer_samples`` rows (with ``batch_id``); batches in
    ``replayed`` were committed by an earlier attempt and count for the run, but raise no
    batch alert of this run."""
    alerts: list[Alert] = []
    batch_ids = sorted({r["batch_id"] for r in samples} - set(replayed))
    for batch_id in batch_ids:
        rows = [r for r in samples if r["batch_id"] == batch_id]
        for scope in SCOPES:
            q = scope_quality(rows, scope)
            if q.above(threshold):
                assert q.cer is not None
                alerts.append(Alert(run_id, batch_id, scope, q.cer, q.cer_low, q.cer_high,
                                    q.pages, threshold))
    scopes = scopes_of(samples)
    for q in scopes:
        if q.above(threshold):
            assert q.cer is not None
            alerts.append(Alert(run_id, None, q.scope, q.cer, q.cer_low, q.cer_high, q.pages,
                                threshold))
    return Verdict(run_id, threshold, scopes, tuple(alerts))


def read_samples(lake: Lake, batch_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The page rows of these committed batches' ``cer_samples`` (reading only their files),
    with the columns a verdict needs."""
    table = lake.read_batches("cer_samples", batch_ids, SAMPLE_COLUMNS)
    return [r for r in table.to_pylist() if r["level"] == "page"]
