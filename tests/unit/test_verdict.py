"""The quality verdict: customer pages and canaries judged apart, one owner for 'degraded';
artifact keys and run names that carry the flow and the lake."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from ocr_tasks.pipeline.job import RunSummary, run_name
from ocr_tasks.quality.report import artifact_key, lake_slug, report_markdown, verdict_markdown
from ocr_tasks.quality.verdict import judge


def page(batch: str, source: str, edits: int, ref_chars: int = 100) -> dict:
    return {"batch_id": batch, "source": source, "level": "page", "edits": edits,
            "ref_chars": ref_chars}


# 45 % on canaries, 3 % on customer pages (sidecars and audits), in two batches
SAMPLES = [
    page("b1", "canary", 45), page("b1", "canary", 45), page("b1", "sidecar", 3),
    page("b2", "sidecar", 2), page("b2", "audit", 4),
    {**page("b2", "sidecar", 99), "level": "line"},  # line rows never count
]


def test_canaries_and_customer_pages_are_judged_apart() -> None:
    verdict = judge("run-1", SAMPLES, threshold=0.10)
    customer, canary = verdict.scope("customer"), verdict.scope("canary")
    assert (customer.pages, round(customer.cer, 3)) == (3, 0.03)
    assert (canary.pages, round(canary.cer, 3)) == (2, 0.45)
    assert not customer.above(0.10) and canary.above(0.10)
    # one CER over both would say 28 %: no alert may carry it
    assert [(a.batch_id, a.scope, round(a.cer, 2)) for a in verdict.alerts] == [
        ("b1", "canary", 0.45), (None, "canary", 0.45)]
    assert verdict.degraded and verdict.degraded_scopes == ["canary"]
    assert verdict.describe() == (
        "quality DEGRADED (CER threshold 10%): customer pages CER 3.0% (3 pages) ok, "
        "canaries CER 45.0% (2 pages) above 10%; above in batch b1 (canaries 45.0%)")
    assert verdict.payload()["customer"] == {
        "cer": customer.cer, "cer_low": customer.cer_low, "cer_high": customer.cer_high,
        "pages": 3, "degraded": False}


def test_bad_customer_pages_degrade_a_run_whose_canaries_are_clean() -> None:
    samples = [page("b1", "canary", 1), page("b1", "sidecar", 30)]
    verdict = judge("run-1", samples, threshold=0.10)
    assert verdict.degraded_scopes == ["customer"]
    assert verdict.alerts[0].describe() == "customer pages of batch b1: CER 30.0% > 10% (1 page)"


def test_replayed_batches_count_for_the_run_but_raise_no_batch_alert() -> None:
    verdict = judge("run-1", [page("b1", "canary", 50)], threshold=0.10, replayed={"b1"})
    assert [(a.batch_id, a.scope) for a in verdict.alerts] == [(None, "canary")]


def test_within_threshold_and_unmeasured() -> None:
    verdict = judge("run-1", [page("b1", "canary", 1), page("b1", "sidecar", 2)], 0.10)
    assert not verdict.degraded and verdict.describe().startswith("quality ok")
    nothing = judge("run-1", [], 0.10)
    assert not nothing.degraded and not nothing.measured
    assert nothing.describe().startswith("quality not measured")


def summary(status: str, verdict: object) -> RunSummary:
    return RunSummary("run-1", "nightly_ingest", status, 2, 3, 0, 2, 0, 10.0, "/lake",
                      cer=0.28, verdict=verdict)  # type: ignore[arg-type]


def test_summary_line_and_markdown_report_both_scopes() -> None:
    verdict = judge("run-1", SAMPLES, threshold=0.10)
    line = summary("degraded", verdict).describe()
    assert line.startswith("degraded: 2 documents, 3 pages")
    assert line.endswith("customer pages CER 3.0% (3 pages) ok, canaries CER 45.0% (2 pages) "
                         "above 10%; above in batch b1 (canaries 45.0%)")
    md = verdict_markdown(verdict)
    assert md.startswith("## ⚠ OCR quality degraded: canaries\n")
    assert "| customer pages (sidecars, audits) | 3.0% |" in md and "| 3 | ok |" in md
    assert "| canaries (synthetic) | 45.0% |" in md and "| 2 | above 10% |" in md
    assert "- canaries of batch b1: CER 45.0% > 10% (2 pages)" in md
    full = report_markdown(summary("degraded", verdict), [], 0.10, None, {"tables": "/lake"})
    assert full.startswith(md)
    assert verdict_markdown(judge("run-1", [page("b", "sidecar", 1)], 0.10)).startswith(
        "## OCR quality within threshold (10%)")


def test_artifact_keys_and_run_names_carry_flow_and_lake(tmp_path: Path) -> None:
    a, b = str(tmp_path / "prod" / "lake"), "s3://ocr-bucket/Prod Lake/"
    keys = {artifact_key("ocr-quality-report", flow, lake)
            for flow in ("nightly_ingest", "backfill") for lake in (a, b)}
    assert len(keys) == 4  # two flows x two lakes: four "latest" reports
    for key in keys:
        assert re.fullmatch(r"[a-z0-9-]+", key), key
    assert artifact_key("ocr-batches", "nightly_ingest", b) == (
        f"ocr-batches-nightly-prod-lake-{lake_slug(b)[-6:]}")
    assert lake_slug(b) == lake_slug("s3://ocr-bucket/Prod Lake")  # trailing slash
    assert run_name("nightly_ingest", a, date(2026, 11, 28)) == (
        f"nightly-2026-11-28-{lake_slug(a)}")
    assert run_name("backfill", "s3://ocr-bucket/Prod Lake", date(2026, 11, 28)).startswith(
        "backfill-2026-11-28-prod-lake-")
