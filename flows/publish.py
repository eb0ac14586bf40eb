"""Publish a finished run to Prefect: artifacts, ``ocr.quality.degraded`` events and the
``Degraded`` state. What they say is computed in ``ocr_tasks.quality.report``."""

from __future__ import annotations

from typing import Any

from ocr_tasks.core.config import PipelineSettings
from ocr_tasks.lake.tables import Lake
from ocr_tasks.quality import report


def publish_run(summary: Any, state: Any, settings: PipelineSettings | None = None) -> Any:
    """Publish the run's artifacts and events; return what the flow should return: the
    summary, or a Completed state named ``Degraded`` carrying it when quality slipped."""
    from prefect.artifacts import (
        create_image_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )
    from prefect.events import emit_event
    from prefect.logging import get_run_logger
    from prefect.runtime import flow_run
    from prefect.states import Completed

    settings = settings or PipelineSettings()
    threshold = settings.cer_threshold
    lake = Lake.open(summary.lake)
    history = report.run_history(lake, settings.trend_runs)
    alerts = report.alerts_for(summary.run_id, summary.cer, state.results, threshold)
    png = report.trend_chart(history, threshold)
    chart_key = f"_reports/{summary.run_id}/cer_trend.png"
    lake.store.put(chart_key, png)
    root = lake.uri.rstrip("/")
    paths = {
        "tables": root,
        "CER samples": f"{root}/cer_samples/",
        "trend chart": lake.store.uri(chart_key),
        "audit pages awaiting transcription": f"{root}/_audit/pending/",
    }
    markdown = report.report_markdown(
        summary, history, alerts, threshold, report.data_uri(png), paths
    )
    lake.store.put(
        f"_reports/{summary.run_id}/report.md",
        report.report_markdown(
            summary, history, alerts, threshold, "cer_trend.png", paths
        ).encode(),
    )
    create_table_artifact(
        report.batch_table(state.results),
        key="ocr-batches",
        description=f"Batches of run {summary.run_id}",
    )
    create_markdown_artifact(
        markdown, key="ocr-quality-report", description=f"OCR quality of run {summary.run_id}"
    )
    create_image_artifact(
        report.data_uri(png),
        key="ocr-cer-trend",
        description=f"CER trend up to run {summary.run_id}",
    )
    related = (
        [
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                "prefect.resource.role": "flow-run",
            }
        ]
        if flow_run.id
        else []
    )
    for alert in alerts:
        subject = f"ocr.batch.{alert.batch_id}" if alert.batch_id else f"ocr.run.{alert.run_id}"
        emit_event(report.DEGRADED_EVENT, resource={"prefect.resource.id": subject,
                                             "ocr.run_id": alert.run_id},
                   related=related,
                   payload={"run_id": alert.run_id, "batch_id": alert.batch_id, "cer": alert.cer,
                            "cer_low": alert.cer_low, "cer_high": alert.cer_high,
                            "threshold": threshold, "lake": summary.lake})
    if not alerts:
        return summary
    message = "OCR quality degraded: " + "; ".join(a.describe() for a in alerts)
    get_run_logger().error(message)
    return Completed(name="Degraded", message=message, data=summary)
