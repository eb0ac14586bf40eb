"""One exception hierarchy for the whole pipeline.

Every fault that can reach the lake carries a stable ``kind`` (written to the ``errors``
table) and a ``retryable`` flag. The batch runner decides in one place what to do with it:
input faults are recorded and the batch goes on; retryable storage faults are raised so the
orchestrator retries the batch.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """Exit status of every ``ocr-pipeline`` command; the README's table lists the same."""

    OK = 0
    FAILED = 1  # the command ran and found failures: failed batches, verify problems, bad files
    BAD_INPUT = 2  # arguments or input the user must fix (argparse's usage errors are 2 too)
    STORAGE = 3  # object storage unreachable, refused or unreadable
    DEGRADED = 4  # the run completed, but its measured quality is below the threshold
    MODEL = 5  # model weights missing or inconsistent: a deployment fault


class OcrPipelineError(Exception):
    """Base class: a fault with a stable kind and a fix-it message."""

    kind: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(OcrPipelineError):
    """The document itself is at fault; retrying will not help."""

    kind = "invalid"


class EmptyInput(InputError):
    kind = "empty"


class CorruptInput(InputError):
    kind = "corrupt"


class EncryptedInput(InputError):
    kind = "encrypted"


class UnsupportedInput(InputError):
    kind = "unsupported"


class BadSidecar(InputError):
    """A ground-truth sidecar next to a document is malformed: recorded, the document is
    OCR'd all the same (its status is not affected)."""

    kind = "bad_sidecar"


class ExportFailed(OcrPipelineError):
    """An export of a document (``OCR_EXPORTS``) could not be rendered: recorded, the
    document's rows are kept (its status is not affected) and that file is not written."""

    kind = "export_failed"


class TooLarge(InputError):
    kind = "too_large"


class RenderTimeout(InputError):
    kind = "timeout"


class InvalidKey(InputError, ValueError):
    """A key that is absolute, escapes the root with '..', or is otherwise not a plain path."""

    kind = "invalid_key"


class NotALake(InputError):
    """A lake path that holds no lake: a mistyped folder or prefix, or a source folder."""

    kind = "not_a_lake"


class SchemaError(OcrPipelineError, ValueError):
    """Rows that do not match a table's schema: a bug in the caller, never retried."""

    kind = "schema"


class StorageError(OcrPipelineError):
    """Object storage failed; usually transient, so the batch is retried."""

    kind = "storage"
    retryable = True


class Unreadable(StorageError):
    """A source object that exists in the listing but cannot be read."""

    kind = "unreadable"
    retryable = True


class SourceChanged(StorageError):
    """The object was replaced between probing and OCR: the next run probes it anew."""

    kind = "changed"
    retryable = True


class StorageUnreachable(StorageError):
    kind = "storage_unreachable"
    retryable = True


class ModelError(OcrPipelineError):
    """Model weights missing or inconsistent: a deployment fault, not an input fault."""

    kind = "model"


class TrainingError(OcrPipelineError):
    """Training cannot go on: a NaN/inf loss, no usable samples, a work folder made by
    another configuration. The message says which and what to do."""

    kind = "training"


class LeaseLost(OcrPipelineError):
    """A run's lease on the lake expired and was taken: the run must not commit any more."""

    kind = "lease_lost"


class LakeBusy(OcrPipelineError):
    """Another process holds what this one needs (e.g. a compaction of the same table)."""

    kind = "lake_busy"


class RunFailed(OcrPipelineError):
    """A run ended with batches that failed for good (their documents have error rows)."""

    kind = "run_failed"


class RunDegraded(OcrPipelineError):
    """A run completed and committed its data, but its measured quality is below the
    threshold (``quality.verdict``). It carries the run's summary: the flow's Degraded state
    holds it, so the run stands out as a failure in the Prefect UI while its figures stay
    readable (``state.result(raise_on_failure=False).summary``)."""

    kind = "degraded"

    def __init__(self, message: str, summary: Any = None) -> None:
        super().__init__(message)
        self.summary = summary


def error_kind(exc: BaseException) -> str:
    """The stable kind of any exception (unknown ones are ``internal``)."""
    return exc.kind if isinstance(exc, OcrPipelineError) else "internal"


def is_retryable(exc: BaseException) -> bool:
    return exc.retryable if isinstance(exc, OcrPipelineError) else False


def exit_code(exc: BaseException) -> ExitCode:
    """The one mapping from a fault to a command's exit status."""
    if isinstance(exc, InputError):
        return ExitCode.BAD_INPUT
    if isinstance(exc, StorageError):
        return ExitCode.STORAGE
    if isinstance(exc, ModelError):
        return ExitCode.MODEL
    if isinstance(exc, RunDegraded):
        return ExitCode.DEGRADED
    return ExitCode.FAILED
