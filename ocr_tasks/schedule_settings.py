"""Settings of ``ocr-pipeline serve``: the nightly schedule and the Prefect API it runs against.

Env prefix ``OCR_SCHEDULE_``. Kept apart from ``config.py`` only to stay out of the way of a
concurrent restructuring of that module; it belongs beside ``PipelineSettings``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScheduleSettings(BaseSettings):
    """The nightly ingestion schedule served on one host. Env prefix ``OCR_SCHEDULE_``.

    ``source`` and ``lake`` have no defaults: a schedule that ingests from or into a guessed
    place would be worse than none. The same names feed the ``nightly`` deployment of
    ``deployments/prefect.yaml`` in production.
    """

    model_config = SettingsConfigDict(env_prefix="OCR_SCHEDULE_", extra="ignore")

    source: str | None = Field(
        None, description="Folder or s3://bucket/prefix the nightly run ingests.")
    lake: str | None = Field(None, description="Folder or s3://bucket/prefix of the Parquet lake.")
    cron: str = Field("30 1 * * *", description="When the nightly run starts (5-field cron).")
    timezone: str = Field("Europe/Berlin", description="IANA time zone the cron is read in.")
    active: bool = Field(
        True, description="False registers the schedule paused (runs on demand only).")
    batch_pages: int = Field(64, description="Pages per batch of the served deployments.")
    max_in_flight: int = Field(8, description="Batches submitted at once by a served run.")
    concurrent_runs: int = Field(
        1, description="Flow runs this host executes at once (each has its own Dask workers "
        "unless OCR_DASK_ADDRESS names a cluster); further runs wait.")
    api_host: str = Field(
        "127.0.0.1", description="Interface of the Prefect server that serve starts when "
        "PREFECT_API_URL is unset (0.0.0.0 to reach the UI from other machines).")
    api_port: int = Field(4200, description="Port of that Prefect server (API and UI).")
    api_startup_timeout_s: float = Field(180.0, description="How long to wait for it to answer.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r} (IANA name, e.g. Europe/Berlin)") from e
        return value

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"cron {value!r} must have 5 fields: minute hour day month weekday")
        return value.strip()

    @field_validator("batch_pages", "max_in_flight", "concurrent_runs")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value
