"""Publish a finished run to Prefect: artifacts, ``ocr.quality.degraded`` events and the
``Degraded`` state. What they say is computed in ``ocr_tasks.quality.report``.

``Degraded`` is a state of type FAILED: the UI colours a badge by its state's type, not its
name, so a Completed state named Degraded was as green as every good run in the run list.
Its data is a :class:`RunDegraded` carrying the run's summary: the rows are committed and
usable, and ``state.result()`` raises one line that says why the run is flagged.
"""

from __future__ import annotations

from typing import Any

from ocr_tasks.core.config import PipelineSettings
from ocr_tasks.core.errors import RunDegraded
from ocr_tasks.lake.tables import Lake
from ocr_tasks.quality import report


def publish_run(summary: Any, state: Any, settings: PipelineSettings | None = None) -> Any:
    """Publish the run's artifacts and events; return what the flow should return: the
    summary, or a FAILED-type state named ``Degraded`` carrying it (in a
    :class:`RunDegraded`) when quality slipped.

    The verdict is the one ``pipeline.job`` judged and recorded (``summary.verdict``, see
    ``ocr_tasks.quality.verdict``): customer pages and canaries apart, each alert an event.
    Artifact keys carry the flow and the lake, so each keeps its own "latest".
    """
    from prefect.artifacts import (
        create_image_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )
    from prefect.events import emit_event
    from prefect.logging import get_run_logger
    from prefect.runtime import flow_run
    from prefect.states import Failed

    settings = settings or PipelineSettings()
    verdict = summary.verdict
    threshold = verdict.threshold if verdict is not None else settings.cer_threshold
    lake = Lake.open(summary.lake)
    history = report.run_history(lake, settings.trend_runs)
    png = report.trend_chart(history, threshold)
    chart_key = f"_reports/{summary.run_id}/cer_trend.png"
    lake.store.put(chart_key, png)
    root = lake.uri.rstrip("/")
    paths = {"tables": root, "CER samples": f"{root}/cer_samples/",
             "trend chart": lake.store.uri(chart_key),
             "audit pages awaiting transcription": f"{root}/_audit/pending/"}
    markdown = report.report_markdown(summary, history, threshold, report.data_uri(png), paths)
    lake.store.put(f"_reports/{summary.run_id}/report.md",
                   report.report_markdown(summary, history, threshold, "cer_trend.png",
                                          paths).encode())

    def key(kind: str) -> str:
        return report.artifact_key(kind, summary.flow, lake.uri)

    create_table_artifact(report.batch_table(state.results), key=key("ocr-batches"),
                          description=f"Batches of run {summary.run_id} ({lake.uri})")
    create_markdown_artifact(markdown, key=key("ocr-quality-report"),
                             description=f"OCR quality of run {summary.run_id} ({lake.uri})")
    create_image_artifact(report.data_uri(png), key=key("ocr-cer-trend"),
                          description=f"CER trend up to run {summary.run_id} ({lake.uri})")
    if verdict is None or not verdict.degraded:
        return summary
    related = ([{"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                 "prefect.resource.role": "flow-run"}] if flow_run.id else [])
    scopes = verdict.payload()
    for alert in verdict.alerts:
        emit_event(report.DEGRADED_EVENT,
                   resource={"prefect.resource.id": alert.resource, "ocr.run_id": alert.run_id,
                             "ocr.scope": alert.scope},  # automations can match on it
                   related=related,
                   payload={"run_id": alert.run_id, "batch_id": alert.batch_id,
                            "scope": alert.scope, "cer": alert.cer, "cer_low": alert.cer_low,
                            "cer_high": alert.cer_high, "pages": alert.pages,
                            "threshold": alert.threshold, "lake": summary.lake,
                            "degraded_scopes": verdict.degraded_scopes, "run": scopes})
    message = "OCR quality degraded: " + "; ".join(a.describe() for a in verdict.alerts)
    get_run_logger().error(message)
    return Failed(name="Degraded", message=message, data=RunDegraded(message, summary))
