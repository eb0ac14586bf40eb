"""A run's parameters: a backfill window without a time zone is UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ocr_tasks.pipeline.job import IngestRequest


def test_naive_window_is_utc_and_aware_window_is_kept() -> None:
    request = IngestRequest("/src", "/lake", flow="backfill", since=datetime(2026, 11, 1),
                            until=datetime(2026, 11, 2, 6, 30))
    assert request.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert request.until == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
    assert request.parameters()["since"] == "2026-11-01T00:00:00+00:00"
    berlin = timezone(timedelta(hours=1))
    aware = IngestRequest("/src", "/lake", since=datetime(2026, 11, 1, tzinfo=berlin))
    assert aware.since is not None and aware.since.utcoffset() == timedelta(hours=1)
