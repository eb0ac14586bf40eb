"""Settings, one pydantic-settings class per concern.

Every field can be set from the environment (prefix shown on each class) so that workers,
deployments and the CLI share one source of truth. Credentials never have defaults in code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Backend = Literal["auto", "openvino", "onnx", "torch"]
Precision = Literal["auto", "bf16", "f32"]
Charset = Literal["latin", "full"]
PdfText = Literal["auto", "use", "ocr"]
# What ``OCR_EXPORTS`` may name: searchable PDF, hOCR, ALTO XML, Document JSON.
EXPORT_FORMATS: tuple[str, ...] = ("pdf", "hocr", "alto", "json")
# 'auto', 'cpu', 'cuda' or 'cuda:N'
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


class S3Settings(BaseSettings):
    """S3-compatible endpoint (AWS, MinIO, SeaweedFS). Env prefix ``OCR_S3_``; the standard
    ``AWS_*`` variables are honoured by boto3 when these are unset."""

    model_config = SettingsConfigDict(env_prefix="OCR_S3_", extra="ignore", populate_by_name=True)

    endpoint_url: str | None = Field(
        None, description="e.g. http://127.0.0.1:8333; None = AWS. Also AWS_ENDPOINT_URL.",
        validation_alias=AliasChoices("OCR_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"))
    region: str = Field(
        "us-east-1", description="Region sent to the endpoint. Also AWS_DEFAULT_REGION/AWS_REGION.",
        validation_alias=AliasChoices("OCR_S3_REGION", "AWS_DEFAULT_REGION", "AWS_REGION"))
    access_key_id: SecretStr | None = Field(None, description="Falls back to AWS_ACCESS_KEY_ID.")
    secret_access_key: SecretStr | None = Field(
        None, description="Falls back to AWS_SECRET_ACCESS_KEY."
    )
    max_attempts: int = Field(8, description="botocore retry attempts for 5xx/throttling/resets.")
    connect_timeout_s: float = Field(5.0, description="Connect timeout per request.")
    read_timeout_s: float = Field(60.0, description="Read timeout per request.")


class LimitSettings(BaseSettings):
    """Input limits: what counts as too large or too slow. Env prefix ``OCR_LIMIT_``."""

    model_config = SettingsConfigDict(env_prefix="OCR_LIMIT_", extra="ignore")

    max_pixels: int = Field(120_000_000, description="Largest rasterized page (w*h) accepted.")
    max_pages: int = Field(5_000, description="Most pages (PDF pages or TIFF frames) per document.")
    max_bytes: int = Field(2_000_000_000, description="Largest source object accepted.")
    render_timeout_s: float = Field(120.0, description="Per-page timeout of external renderers.")
    pdf_password: SecretStr | None = Field(None, description="Password tried on encrypted PDFs.")


class EngineSettings(BaseSettings):
    """OCR engine choices. Env prefix ``OCR_ENGINE_``."""

    model_config = SettingsConfigDict(
        env_prefix="OCR_ENGINE_", extra="ignore", populate_by_name=True
    )

    backend: Backend = Field(
        "auto", description="'openvino', 'onnx', 'torch' or 'auto' (CUDA torch, else OpenVINO "
        "where it runs bf16 natively, else onnx: OpenVINO f32 measured slower than onnx)."
    )
    openvino_precision: Precision = Field(
        "auto", description="OpenVINO inference precision: 'auto' = bf16 where the CPU has "
        "AVX512-BF16/AMX, else f32.")
    openvino_static_shapes: int = Field(
        4, ge=0, description="Detector input shapes OpenVINO keeps compiled for their own "
        "size (measured: -8 to -10 % CPU per page for the tiny engine at the same accuracy, "
        "less memory than the any-size model on 200-dpi pages); others run the any-size "
        "model. 0 = always the any-size model.")
    device: str = Field(
        "auto", pattern=DEVICE_PATTERN, description="'cpu', 'cuda', 'cuda:N' or 'auto'."
    )
    threads: int = Field(1, description="Intra-op threads per worker process; scale by processes.")
    dpi: int = Field(200, description="PDF render resolution.")
    max_side: int = Field(2400, description="Longest side fed to the detector (pixels).")
    rec_batch_size: int = Field(4, description="Line crops per recognizer call (CPU).")
    rec_batch_size_gpu: int = Field(256, description="Line crops per recognizer call (CUDA).")
    pages_per_call: int = Field(
        4, description="Pages per engine call on CPU (lines batch across them)."
    )
    pages_per_call_gpu: int = Field(16, description="Pages per engine call on CUDA.")
    det_batch_pages: int = Field(
        1, ge=1, description="Pages per detector call on CPU (padded to a common size; on CPU "
        "padding only costs, so one).")
    det_batch_pages_gpu: int = Field(
        8, ge=1, description="Pages per detector call on CUDA, padded to a common size.")
    prefetch_pages_gpu: int = Field(
        16, ge=0, description="Pages a CUDA worker rasterizes ahead on a CPU thread while the "
        "GPU works (a bounded queue; 0 = none). CPU workers rasterize in line.")
    model_cache: Path | None = Field(
        None, description="Folder of exported ONNX files; default ~/.cache/ocr-pipeline.",
        validation_alias=AliasChoices("OCR_ENGINE_MODEL_CACHE", "OCR_MODEL_CACHE"))
    onnx_memory_arena: bool = Field(
        False,
        description="onnxruntime CPU memory arena: a little faster, far more resident memory.",
    )
    half_precision: bool = Field(True, description="fp16 on CUDA.")
    use_direction_classifier: bool = Field(True, description="Flip upside-down lines.")
    detect_orientation: bool = Field(True, description="Correct 90/180/270 page rotation.")
    deskew: bool = Field(
        False, description="Correct small skew (measured: no gain, one more detection)."
    )
    normalize_contrast: bool = Field(
        False, description="Stretch contrast (measured: no gain on FUNSD)."
    )
    denoise: bool = Field(False, description="Median denoise before detection.")
    upscale_below_dpi: int = Field(150, description="Upscale pages scanned below this dpi.")
    det_scale: float = Field(
        0.8, gt=0, le=1, description="Detector input as a share of the prepared (upscaled) "
        "page; line crops are still cut from the prepared page at full resolution.")
    unclip_ratio: float = Field(
        1.5, gt=0, description="How far detected text kernels grow back (DB unclip ratio).")
    skip_line_classifier_below: float = Field(
        0.1, ge=0, le=0.5, description="Skip the per-line direction classifier on a page whose "
        "orientation vote (mean upside-down probability of its longest lines) is below this, "
        "or above 1 minus this after the page is turned: confidently upright. 0 = never skip.")
    charset: Charset = Field(
        "latin", description="Recognizer classes: 'latin' (European scripts; its head is ~50x "
        "cheaper) or 'full' (the original charset with CJK). Part of the model version.")
    model: str = Field(
        "bundled", description="Model version: 'bundled' (the pretrained networks), a name "
        "in the lake's registry (its promoted version), 'name/version', or a version's folder "
        "or s3:// URI. A run resolves it once, at its start. A stored version brings its own "
        "charset ('charset' applies to 'bundled' only).")


class PipelineSettings(BaseSettings):
    """Batching and orchestration. Env prefix ``OCR_``."""

    model_config = SettingsConfigDict(env_prefix="OCR_", extra="ignore")

    batch_pages: int = Field(64, description="Target pages per batch (one Prefect task each).")
    workers: int = Field(2, description="Local Dask worker processes.")
    max_batches_in_flight: int = Field(8, description="Backpressure for backfills.")
    dask_address: str | None = Field(
        None, description="Existing Dask scheduler; None = LocalCluster."
    )
    dask_dashboard: str = Field(
        "127.0.0.1:0", description="Dashboard of a local Dask cluster: loopback, a free port. "
        "':8787' serves it on every interface; '' turns it off.")
    canary_pages: int = Field(2, description="Most synthetic canary pages injected per batch.")
    canary_every_pages: int = Field(
        32, ge=1, description="One canary per this many customer pages of a planned wave, "
        "rounded up (at least one per wave, at most canary_pages per batch): 8 batches of 8 "
        "pages pay for 2 canaries between them, not for 8.")
    audit_pages: int = Field(1, description="Customer pages per batch sampled for human audit.")
    cer_threshold: float = Field(
        0.10, description="Customer-page CER and canary CER (each, per batch and per run) "
        "above this make a run degraded and emit ocr.quality.degraded.")
    review_confidence: float = Field(
        0.80, description="Pages below this mean confidence need review."
    )
    lease_ttl_s: float = Field(
        120.0, description="A run's lease on the lake lasts this long unless renewed; a run that "
        "dies blocks its documents at most this long.")
    lease_heartbeat_s: float = Field(20.0, description="Lease renewal interval (TTL >= 3x).")
    max_attempts: int = Field(
        3, description="Runs a document may fail in retryably (e.g. its batch crashed) before "
        "it gets a final 'gave_up' error row instead of another try.")
    canary_severity: float = Field(1.0, description="Canary scan degradation: 1 typical, 3 bad.")
    canary_dpi: int = Field(150, description="Resolution canaries are rendered at.")
    canary_seed: int = Field(0, description="Non-zero draws another canary set.")
    trend_runs: int = Field(20, description="Runs shown in the CER trend of the run report.")
    exports: str = Field(
        "", description="Files written per document beside the tables, comma-separated: "
        "'pdf' (searchable PDF/A-2b), 'hocr', 'alto' (ALTO v4 XML), 'json' (the Document); "
        "'' writes none. Their lake keys are in documents.exports.")
    pdf_text: PdfText = Field(
        "auto", description="PDF pages with a text layer: 'auto' reads a page from its layer "
        "when the layer's words cover the page's ink (born-digital), else OCRs it; 'use' reads "
        "every page with a non-empty layer from it; 'ocr' OCRs every page.")

    @field_validator("exports")
    @classmethod
    def _known_exports(cls, value: str) -> str:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in EXPORT_FORMATS]
        if unknown:
            raise ValueError(f"unknown export {', '.join(unknown)}: "
                             f"choose from {', '.join(EXPORT_FORMATS)}")
        return ",".join(dict.fromkeys(names))

    @property
    def export_formats(self) -> tuple[str, ...]:
        """The exports asked for, in the order given, each once."""
        return tuple(n for n in self.exports.split(",") if n)


# How long and how fast each recognizer size trains, measured on FUNSD (README, Fine-tuning):
# small starts close to those pages (3 x 40 steps at 2e-5 improve both CERs); tiny starts
# further away and needs a larger rate and more steps (4 x 250 at 1e-4; 2e-5 barely moves it,
# 2e-4 swings between stages, 4 x 500 ends worse).
SIZE_RECIPES: dict[str, dict[str, float | int]] = {
    "small": {"stages": 3, "steps_per_stage": 40, "rec_lr": 2e-5},
    "tiny": {"stages": 4, "steps_per_stage": 250, "rec_lr": 1e-4},
}


class TrainingSettings(BaseSettings):
    """Fine-tuning defaults (``ocr-pipeline train``). Env prefix ``OCR_TRAIN_``.

    The CPU defaults are the FUNSD fine-tune measured in the README (three stages in 8 min
    wall on two cores, both CERs improved); CUDA takes the larger batches. ``stages``,
    ``steps_per_stage`` and ``rec_lr`` follow the recognizer size (``recipe``) unless set.
    """

    model_config = SettingsConfigDict(env_prefix="OCR_TRAIN_", extra="ignore")

    stages: int = Field(int(SIZE_RECIPES["small"]["stages"]),
                        description="Training stages, each followed by a validation (tiny: 4).")
    steps_per_stage: int = Field(int(SIZE_RECIPES["small"]["steps_per_stage"]),
                                 description="Optimizer steps per stage (tiny: 250).")
    rec_batch: int = Field(16, description="Recognizer crops per step on CPU.")
    rec_batch_gpu: int = Field(128, description="Recognizer crops per step on CUDA.")
    det_batch: int = Field(1, description="Detector page crops per step on CPU.")
    det_batch_gpu: int = Field(8, description="Detector page crops per step on CUDA.")
    det_size: int = Field(512, description="Side of the square page crops the detector trains on.")
    det_every: int = Field(2, description="A detector step every N steps (1 = every step).")
    rec_lr: float = Field(SIZE_RECIPES["small"]["rec_lr"],
                          description="Recognizer learning rate (AdamW; tiny: 1e-4).")
    det_lr: float = Field(2e-5, description="Detector learning rate (AdamW).")
    warmup_steps: int = Field(
        20, description="Linear learning-rate warm-up steps; then a cosine decay to a tenth.")
    max_crop_width: int = Field(
        480, description="Crops wider than this at height 48 are left out (time per step).")
    clip_norm: float = Field(5.0, description="Gradient norm clipping (0 = off).")
    seed: int = Field(0, description="Base seed; each stage derives its own from it.")
    parts: str = Field(
        "rec", description="Networks to train: rec, det or rec,det (measured on FUNSD: the "
        "detector gains from the recognizer's training alone; its own steps cost it).")
    line_share: float | None = Field(
        0.8, ge=0.0, le=1.0, description="Share of line crops in a recognizer batch (None: "
        "drawn like word crops). Measured on FUNSD: 0.8 improves crop and end-to-end CER, "
        "word crops alone hurt end-to-end CER, line crops alone hurt crop CER.")
    rec_size: Literal["small", "tiny"] = Field(
        "small", description="Recognizer to start from: small (the bundled PP-OCRv6 small) or "
        "tiny (PP-OCRv6 tiny, ~4x cheaper per line; trained into its own model version).")
    distill: float = Field(
        0.0, ge=0.0, description="Weight of the bundled (small) recognizer's per-frame "
        "targets when training the tiny one, beside CTC on the labels (0 = CTC only). "
        "Measured on FUNSD (4 x 250 steps, lr 1e-4): 1.0 ended at end-to-end CER 0.0946 "
        "against 0.0836 with CTC alone, at 2.5x the time per step.")

    def recipe(self, rec_size: str) -> dict[str, float | int]:
        """``stages``, ``steps_per_stage`` and ``rec_lr`` for training ``rec_size``: what
        was set (environment, arguments) as it is, the rest from that size's recipe."""
        if rec_size not in SIZE_RECIPES:
            raise ValueError(f"unknown recognizer size {rec_size!r}; known: "
                             f"{', '.join(SIZE_RECIPES)}")
        return {name: getattr(self, name) if name in self.model_fields_set else value
                for name, value in SIZE_RECIPES[rec_size].items()}


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
    batch_pages: int | None = Field(
        None, description="Pages per batch of the served deployments (None: OCR_BATCH_PAGES).")
    max_in_flight: int | None = Field(
        None, description="Batches submitted at once (None: OCR_MAX_BATCHES_IN_FLIGHT).")
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
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1")
        return value
