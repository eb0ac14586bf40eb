"""Model versions in the lake: publish (with ONNX parity), list, show, promote, resolve the
``OCR_ENGINE_MODEL`` setting, and run the engine on a stored version."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from ocr_tasks.cli import main
from ocr_tasks.core.config import EngineSettings
from ocr_tasks.core.errors import ExitCode, ModelError
from ocr_tasks.engine import models, registry
from ocr_tasks.engine.predictor import OcrEngine

NAME = "claims"
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def write_bundle(folder: Path, charset: list[str] | None = None, size: str = "small") -> Path:
    """A bundle as `ocr-pipeline train` leaves it, here with the pretrained weights."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(models.load_recognizer(size=size).state_dict(), folder / "rec.pt")
    torch.save(models.load_detector().state_dict(), folder / "det.pt")
    classes = charset if charset is not None else models.charset(size=size)
    (folder / "charset.json").write_text(json.dumps(classes, ensure_ascii=False))
    (folder / "model.json").write_text(json.dumps({
        "parent": models.pretrained_version(size), "config": {"stages": 1},
        "best": {"stage": 0, "metrics": {"crop_cer": 0.01}},
        **({"rec_size": size} if size != "small" else {})}))
    return folder


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(lake, version): one version of NAME, published once for the module."""
    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OCR_MODEL_CACHE", str(root / "cache"))
        lake = str(root / "lake")
        version = registry.publish(lake, NAME, write_bundle(root / "bundle"))
        yield lake, version


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_MODEL_CACHE", str(tmp_path / "cache"))


def line_image(text: str) -> np.ndarray:
    image = Image.new("RGB", (24 * len(text) + 40, 60), "white")
    ImageDraw.Draw(image).text((20, 12), text, font=ImageFont.truetype(str(FONT), 30),
                               fill="black")
    return np.asarray(image)


def test_a_published_version_holds_its_files_hashes_and_onnx_parity(
    published: tuple[str, str],
) -> None:
    lake, version = published
    [manifest] = registry.list_versions(lake, NAME)
    assert (manifest["name"], manifest["version"]) == (NAME, version)
    assert manifest["parent"] == models.MODEL_VERSION
    assert manifest["best"]["metrics"]["crop_cer"] == 0.01  # the bundle's metadata is kept
    folder = Path(lake) / "models" / NAME / version
    for file, digest in manifest["files"].items():
        assert registry._sha256(folder / file) == digest
    assert set(manifest["files"]) >= {"rec.pt", "det.pt", "charset.json", "det.onnx",
                                      "rec.onnx", "cls.onnx"}
    assert all(0 <= d <= registry.PARITY_TOLERANCE
               for d in manifest["onnx_parity_max_abs"].values())


def test_the_setting_resolves_to_one_stored_version(published: tuple[str, str]) -> None:
    lake, version = published
    location = registry.version_location(lake, NAME, version)
    assert registry.resolve("bundled", lake) == registry.resolve("", None) == registry.BUNDLED
    assert registry.resolve(f"{NAME}/{version}", lake) == location
    assert registry.resolve(location) == location
    with pytest.raises(ModelError, match="is not in"):
        registry.resolve(f"{NAME}/20990101T000000-00000000", lake)
    with pytest.raises(ModelError, match="names a model in a lake"):
        registry.resolve(NAME)
    with pytest.raises(ModelError, match="bad model name"):
        registry.resolve("Claims Model", lake)


def test_promotion_moves_the_bare_name_and_keeps_history(
    published: tuple[str, str], tmp_path: Path
) -> None:
    lake, version = published
    other = tmp_path / "lake"
    shutil.copytree(lake, other)  # promotions here do not leak into the module's lake
    with pytest.raises(ModelError, match="no promoted version"):
        registry.resolve(NAME, str(other))
    registry.promote(str(other), NAME, version)
    assert registry.resolve(NAME, str(other)) == registry.version_location(str(other), NAME,
                                                                           version)
    record = registry.promote(str(other), NAME, version)
    assert [h["version"] for h in record["history"]] == [version]
    with pytest.raises(ModelError, match="is not in"):
        registry.promote(str(other), NAME, "nope")


def test_the_engine_runs_a_stored_version_and_records_it(published: tuple[str, str]) -> None:
    lake, version = published
    location = registry.resolve(f"{NAME}/{version}", lake)
    crop = line_image("Policy 12345 Keller")
    bundled = OcrEngine(EngineSettings(backend="onnx")).recognize_crops([crop])
    for backend in ("onnx", "torch"):
        engine = OcrEngine(EngineSettings(backend=backend, model=location))
        assert engine.model_version == f"{NAME}/{version}"
        assert engine.model_name == NAME
        assert engine.recognize_crops([crop])[0][0] == bundled[0][0] == "Policy 12345 Keller"


def test_a_tiny_recognizer_version_runs_as_its_own_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = str(tmp_path / "lake")
    version = registry.publish(lake, "claims-tiny", write_bundle(tmp_path / "b", size="tiny"))
    location = registry.resolve(f"claims-tiny/{version}", lake)
    stored = registry.load(location)
    assert stored.manifest["rec_size"] == "tiny"
    assert stored.manifest["onnx_parity_max_abs"]["rec"] <= registry.PARITY_TOLERANCE
    rec = stored.module("rec")
    assert rec.size == "tiny" and rec.head.fc.out_features == len(models.charset(size="tiny"))
    crop = line_image("Policy 12345 Keller")
    texts = {backend: OcrEngine(EngineSettings(backend=backend, model=location))
             .recognize_crops([crop])[0][0] for backend in ("onnx", "torch")}
    assert texts["onnx"] == texts["torch"] == "Policy 12345 Keller"
    assert main(["models", "list", "--lake", lake]) == 0
    assert f"claims-tiny/{version}" in (listed := capsys.readouterr().out) and "rec=tiny" in listed


def test_a_corrupt_stored_file_is_refused(published: tuple[str, str], tmp_path: Path) -> None:
    lake, version = published
    copy = tmp_path / "copy"
    shutil.copytree(Path(lake) / "models" / NAME / version, copy)
    (copy / "rec.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="does not match its hash"):
        registry.load(str(copy))


def test_a_bad_bundle_is_refused_naming_the_file(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b")
    (bundle / "det.pt").unlink()
    with pytest.raises(ModelError, match=r"det\.pt: missing"):
        registry.publish(str(tmp_path / "lake"), NAME, bundle)
    bundle = write_bundle(tmp_path / "c", charset=["<blank>", "a", "b", " "])
    with pytest.raises(ModelError, match="do not fit"):
        registry.publish(str(tmp_path / "lake"), NAME, bundle)
    assert not list(registry.list_versions(str(tmp_path / "lake")))


def test_models_command_lists_shows_and_promotes(
    published: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake, version = published
    other = tmp_path / "lake"
    shutil.copytree(lake, other)
    assert main(["models", "promote", "--lake", str(other), NAME, version]) == 0
    assert main(["models", "list", "--lake", str(other)]) == 0
    out = capsys.readouterr().out
    assert f"* {NAME}/{version}" in out and "crop_cer=0.0100" in out
    assert main(["models", "show", "--lake", str(other), NAME]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == version and shown["promoted"] is True
    assert main(["models", "show", "--lake", str(other), NAME, "nope"]) == ExitCode.MODEL
    assert main(["models", "list", "--lake", str(tmp_path / "typo")]) == ExitCode.BAD_INPUT


def test_cer_by_model_version_weights_runs_by_pages() -> None:
    from datetime import UTC, datetime

    from ocr_tasks.quality.report import RunQuality, model_table
    from ocr_tasks.quality.verdict import CANARY, CUSTOMER, ScopeQuality

    def run(model: str, customer: tuple[float, int], canary: tuple[float, int]) -> RunQuality:
        scopes = {s: ScopeQuality(s, n, c, None, None)
                  for s, (c, n) in ((CUSTOMER, customer), (CANARY, canary))}
        return RunQuality("r", "nightly", "completed", datetime.now(UTC), 1, 0, 1.0, 1.0,
                          None, None, None, {}, scopes, model)

    table = model_table([run("a/1", (0.10, 10), (0.02, 4)), run("a/1", (0.04, 30), (0.02, 4)),
                         run("a/2", (0.02, 20), (0.30, 2))], threshold=0.2)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert rows["a/1"] == "| a/1 | 2 | 5.5% (40p) | 2.0% (8p) |"  # (1.0 + 1.2) / 40
    assert rows["a/2"] == "| a/2 | 1 | 2.0% (20p) | 30.0% (2p) (above) |"
