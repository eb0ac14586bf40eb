"""``ocr-pipeline report`` and ``ocr-pipeline audit-import``: quality history from the lake."""

from __future__ import annotations

import argparse
from typing import Any

from ocr_tasks.cli.args import uri
from ocr_tasks.core.config import PipelineSettings


def register(sub: Any) -> None:
    defaults = PipelineSettings()
    report = sub.add_parser(
        "report", help="quality and throughput history per run",
        description="Per run: status, pages, errors, pages/s, CER with its interval, and CER "
        "of customer pages and canaries (judged apart against OCR_CER_THRESHOLD) and by "
        "source.")
    report.add_argument("--lake", required=True, type=uri, help="folder or s3://bucket/prefix")
    report.add_argument("--last", type=int, default=defaults.trend_runs, metavar="N",
                        help="runs shown (default: %(default)s; env OCR_TREND_RUNS)")
    report.add_argument("--calibration", action="store_true",
                        help="also: confidence vs. observed errors, and a review threshold")
    report.add_argument("--target-cer", type=float, default=defaults.cer_threshold,
                        metavar="CER", help="page CER above which a page should go to review "
                        "(default: %(default)s; env OCR_CER_THRESHOLD)")
    report.set_defaults(func=run_report)
    audit = sub.add_parser(
        "audit-import", help="score returned audit transcriptions",
        description="Score the transcriptions under LAKE/_audit/returned/ against the pages "
        "they audit; each returned file becomes its own batch of cer_samples rows (importing "
        "twice adds nothing).")
    audit.add_argument("--lake", required=True, type=uri, help="folder or s3://bucket/prefix")
    audit.set_defaults(func=run_audit_import)


def run_report(args: argparse.Namespace) -> int:
    from ocr_tasks.lake.tables import Lake
    from ocr_tasks.quality import report as monitoring

    lake = Lake.open_existing(args.lake)
    threshold = PipelineSettings().cer_threshold
    history = monitoring.run_history(lake, args.last)
    if not history:
        print(f"no runs in {lake.uri}")
    else:
        print(f"last {len(history)} runs in {lake.uri} (CER threshold {threshold:.0%} for "
              "customer pages and canaries apart; micro CER over pages, (Np) = pages "
              "scored)\n")
        print(monitoring.history_table(history, threshold))
        print("\nCER by model version:\n")
        print(monitoring.model_table(history, threshold))
    if args.calibration:
        print()
        print(calibration_report(lake, args.target_cer))
    return 0


def calibration_report(lake: Any, target_cer: float) -> str:
    from ocr_tasks.quality.calibration import calibration_table, format_table, review_threshold

    rows = lake.read_table("cer_samples", columns=[
        "level", "reference", "prediction", "edits", "ref_chars", "confidence"]).to_pylist()
    parts = [format_table(calibration_table(rows, "word"), "Words: confidence vs. errors"), "",
             format_table(calibration_table(rows, "page"), "Pages: confidence vs. CER"), ""]
    pick = review_threshold(rows, target_cer)
    if pick is not None:
        parts.append(f"Review threshold for pages above CER {target_cer:.0%}: "
                     f"OCR_REVIEW_CONFIDENCE={pick.threshold:.3f} flags {pick.flagged:.0%} of "
                     f"scored pages; catches {pick.caught}, misses {pick.missed}, "
                     f"flags {pick.needless} good pages needlessly")
    return "\n".join(parts)


def run_audit_import(args: argparse.Namespace) -> int:
    from ocr_tasks.lake.tables import Lake
    from ocr_tasks.quality.audit import score_returned_audits

    rows = score_returned_audits(Lake.open_existing(args.lake))
    pages = [r for r in rows if r["level"] == "page"]
    print(f"imported {len(pages)} audited pages ({len(rows)} cer_samples rows)")
    return 0
