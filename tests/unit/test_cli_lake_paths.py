"""Commands that read a lake end a wrong lake path or an unreachable endpoint with one line,
and write nothing to a path that holds no lake."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from ocr_tasks.cli import main
from ocr_tasks.core.errors import ExitCode
from tests.s3server import closed_port


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", [
    ["report", "--lake"], ["audit-import", "--lake"], ["verify", "--lake"], ["compact", "--lake"],
    ["query"],
])
def test_a_missing_lake_folder_is_one_line_and_stays_missing(tmp_path: Path,
                                                            command: list[str]) -> None:
    lake = tmp_path / "lakee"  # a typo
    argv = [*command, str(lake)] + (["select 1"] if command == ["query"] else [])
    code, out, err = run_cli(*argv)
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == f"error (not_a_lake): no lake at {lake}: the folder does not exist\n"
    assert not lake.exists()


def test_report_on_a_folder_that_is_no_lake(tmp_path: Path) -> None:
    source = tmp_path / "archive"
    source.mkdir()
    (source / "scan.png").write_bytes(b"png")
    code, out, err = run_cli("report", "--lake", str(source))
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err.startswith(f"error (not_a_lake): no lake at {source}: it has no commit log")
    assert err.count("\n") == 1
    assert [p.name for p in source.iterdir()] == ["scan.png"]  # nothing written into it


def test_report_with_an_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    for name, value in {"OCR_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "k",
                        "AWS_SECRET_ACCESS_KEY": "s", "OCR_S3_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    code, out, err = run_cli("report", "--lake", "s3://bucket/lake")
    assert (code, out) == (ExitCode.STORAGE, "")
    assert err.startswith(f"error (storage_unreachable): S3 endpoint {endpoint} unreachable")
    assert err.count("\n") == 1
