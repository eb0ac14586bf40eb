"""What a new user sees of the CLI: complete --help texts, one JSON shape from ``ocr``, and
progress bars that log lines do not run into."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocr_tasks import cli
from ocr_tasks.cli.console import logs_above_bars
from tests.unit.test_batch import CountingEngine

FLAGS = (argparse._HelpAction, argparse._StoreTrueAction, argparse._StoreFalseAction,
         argparse._VersionAction)


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser([])  # no command given: every command module is loaded
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_documents_itself_and_its_defaults() -> None:
    commands = subparsers()
    assert set(commands) == set(cli.COMMANDS)
    missing = []
    for name, parser in commands.items():
        if not parser.description:
            missing.append(f"{name}: no description")
        for action in parser._actions:
            if isinstance(action, FLAGS):
                continue
            what = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(f"{what}: no help")
            elif action.option_strings and not action.required and "default" not in action.help:
                missing.append(f"{what}: no default in {action.help!r}")
    assert missing == []


def test_help_shows_the_resolved_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["ingest", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "pages per batch task (default: 64; env OCR_BATCH_PAGES)" in out
    assert "(default: when stderr is a terminal)" in out


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> CountingEngine:
    from ocr_tasks.engine import predictor

    engine = CountingEngine()
    monkeypatch.setattr(predictor, "get_engine", lambda settings: engine)
    return engine


def ocr_json(*argv: str) -> tuple[int, object]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["ocr", *argv])
    return code, json.loads(out.getvalue())


@pytest.mark.usefixtures("fake_engine")
def test_ocr_json_is_a_list_of_documents_also_for_one_file(tmp_path: Path) -> None:
    for name, shade in (("a.png", 30), ("b.png", 200)):
        Image.fromarray(np.full((40, 60), shade, np.uint8)).save(tmp_path / name)
    code, one = ocr_json(str(tmp_path / "a.png"))
    assert code == 0 and isinstance(one, list) and len(one) == 1
    assert one[0]["source"] == str(tmp_path / "a.png") and len(one[0]["pages"]) == 1
    code, two = ocr_json(str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    assert code == 0 and [d["source"] for d in two] == [str(tmp_path / n) for n in ("a.png",
                                                                                    "b.png")]
    (tmp_path / "c.png").write_bytes(b"")  # unreadable: left out, exit 1, still a list
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, none = ocr_json(str(tmp_path / "c.png"))
    assert (code, none) == (1, []) and "file is empty" in err.getvalue()


def test_log_lines_go_above_the_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm import tqdm

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logger = logging.getLogger("tests.console")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("LOG %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        bar = tqdm(total=3, unit="page", file=sys.stderr, ascii=True)
        with logs_above_bars():
            for n in range(3):
                bar.update(1)
                logger.warning("batch %d done", n)
        bar.close()
        assert "emit" not in handler.__dict__  # the handler is as it was
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    logged = re.findall(r"(.)?LOG batch \d done", text, flags=re.DOTALL)
    assert len(logged) == 3
    assert all(before in ("", "\r", "\n") for before in logged), text
    assert "page/s]LOG" not in text and "it/s]LOG" not in text


def test_worker_processes_started_under_a_bar_print_warnings_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask workers are other processes: they cannot clear the bar, so their INFO lines
    stay off the terminal (they still go to the Prefect API)."""
    import os
    import subprocess

    from ocr_tasks.cli.console import CHILD_CONSOLE_LEVEL, quiet_child_consoles

    monkeypatch.delenv(CHILD_CONSOLE_LEVEL, raising=False)
    probe = ("import logging, prefect.logging.configuration as c; c.setup_logging(); "
             "print([h.level for h in logging.getLogger().handlers])")
    with quiet_child_consoles(True):
        levels = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                check=True).stdout
    assert levels.strip() == "[30]" and CHILD_CONSOLE_LEVEL not in os.environ
    with quiet_child_consoles(False):
        assert CHILD_CONSOLE_LEVEL not in os.environ
    monkeypatch.setenv(CHILD_CONSOLE_LEVEL, "DEBUG")  # the user's choice is kept
    with quiet_child_consoles(True):
        assert os.environ[CHILD_CONSOLE_LEVEL] == "DEBUG"
    assert os.environ[CHILD_CONSOLE_LEVEL] == "DEBUG"
