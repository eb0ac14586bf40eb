"""Model versions stored in the lake, and the setting that pins one for ingestion.

A version lives under ``LAKE/models/<name>/<version>/``: the fine-tuned weights (``rec.pt``,
``det.pt``), their ONNX exports (``det.onnx``, ``rec.onnx``, ``cls.onnx``), the recognizer's
classes (``charset.json``) and ``model.json`` (parent version, config, metrics per stage,
dataset card, ONNX parity, and the SHA-256 of every file). ``model.json`` is written last and
only if absent, so a version is either complete or invisible, and never changes once there.
``models/<name>/promoted.json`` names the version a bare ``OCR_ENGINE_MODEL=<name>`` means;
it is swapped by compare-and-swap, so two promotions cannot lose one another.

An ingestion run resolves its setting once, at its start, to a version's location and hands
that to every batch: a promotion in the middle of a run never splits it across versions.
Workers download a version into the local model cache once (verified by hash) and load it
once per process. Every output row carries ``<name>/<version>``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ocr_tasks.core.errors import ModelError, StorageError
from ocr_tasks.engine.models.catalog import recorded_rec_size
from ocr_tasks.io.storage import ObjectStore, open_store

BUNDLED = "bundled"  # the pretrained networks of the installed weights package
MODELS_PREFIX = "models"
MANIFEST = "model.json"
PROMOTED = "promoted.json"
CHARSET_FILE = "charset.json"
WEIGHTS = {"rec": "rec.pt", "det": "det.pt"}
ONNX_FILES = {"det": "det.onnx", "rec": "rec.onnx", "cls": "cls.onnx"}
PARITY_TOLERANCE = 1e-3  # max |torch - onnxruntime| on a probability, per network
PROMOTION_HISTORY = 50
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_name(name: str) -> str:
    """Model names are path segments and appear in every row: short, lower case, no slash."""
    if not _NAME.match(name):
        raise ModelError(f"bad model name {name!r}: use 1-64 of a-z 0-9 . _ - "
                         "(starting with a letter or digit)")
    return name


@dataclass(frozen=True)
class ModelVersion:
    """A stored version, downloaded into ``local`` (a folder of verified files)."""

    name: str
    version: str
    location: str
    manifest: dict[str, Any]
    local: Path

    @property
    def ref(self) -> str:
        """What every output row records as its ``model_version``."""
        return f"{self.name}/{self.version}"

    @functools.cached_property
    def charset(self) -> list[str]:
        """The recognizer's classes: ``[0]`` the CTC blank, the last the space."""
        return list(json.loads((self.local / CHARSET_FILE).read_text("utf-8")))

    @property
    def onnx_paths(self) -> dict[str, Path]:
        return {kind: self.local / file for kind, file in ONNX_FILES.items()}

    def module(self, kind: str, device: str = "cpu") -> Any:
        """The torch module of ``kind``; the direction classifier is never fine-tuned."""
        import torch

        from ocr_tasks.engine import models

        if kind == "cls":
            return models.load_direction_classifier(device)
        state = torch.load(self.local / WEIGHTS[kind], map_location="cpu", weights_only=True)
        return models.load_trained(kind, state, num_classes=len(self.charset), device=device,
                                   size=recorded_rec_size(self.manifest))


# --- where versions live ---------------------------------------------------------------


def _lake_store(lake: str) -> ObjectStore:
    return open_store(lake)


def version_location(lake: str, name: str, version: str) -> str:
    return _lake_store(lake).uri(f"{MODELS_PREFIX}/{check_name(name)}/{version}")


def _read_json(store: ObjectStore, key: str) -> dict[str, Any] | None:
    if not store.exists(key):
        return None
    try:
        data = json.loads(store.get(key))
    except ValueError as e:
        raise ModelError(f"{store.uri(key)} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ModelError(f"{store.uri(key)} is not a JSON object")
    return data


def promoted(lake: str, name: str) -> str | None:
    """The promoted version of ``name``, or None."""
    data = _read_json(_lake_store(lake), f"{MODELS_PREFIX}/{check_name(name)}/{PROMOTED}")
    return str(data["version"]) if data else None


def resolve(setting: str, lake: str | None = None) -> str:
    """Turn an ``OCR_ENGINE_MODEL`` value into what a worker loads: ``bundled``, or the
    location of one stored version.

    Accepted: ``bundled`` (or empty); ``<name>`` (its promoted version in ``lake``);
    ``<name>/<version>`` (in ``lake``); the folder or ``s3://`` URI of a version.
    """
    setting = setting.strip()
    if setting in ("", BUNDLED):
        return BUNDLED
    if "://" in setting or setting.startswith(("/", ".", "~")):
        location = str(Path(setting).expanduser()) if "://" not in setting else setting
        if _read_json(open_store(location), MANIFEST) is None:
            raise ModelError(f"no model version at {location} (no {MANIFEST})")
        return location
    if lake is None:
        raise ModelError(f"OCR_ENGINE_MODEL={setting} names a model in a lake; give the lake, "
                         "or the version's folder or s3:// URI")
    name, _, version = setting.partition("/")
    if not version:
        version = promoted(lake, name) or ""
        if not version:
            raise ModelError(f"model {name!r} has no promoted version in {lake}: run "
                             f"`ocr-pipeline models promote --lake {lake} {name} VERSION`")
    store = _lake_store(lake)
    if not store.exists(f"{MODELS_PREFIX}/{check_name(name)}/{version}/{MANIFEST}"):
        raise ModelError(f"model {name}/{version} is not in {lake} "
                         f"(`ocr-pipeline models list --lake {lake}` lists them)")
    return version_location(lake, name, version)


# --- loading ---------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def load(location: str) -> ModelVersion:
    """Download the version at ``location`` into the model cache (once per machine: files are
    checked against their hashes) and describe it (once per process)."""
    from ocr_tasks.engine.models.catalog import cache_root

    store = open_store(location)
    manifest = _read_json(store, MANIFEST)
    if manifest is None:
        raise ModelError(f"no model version at {location} (no {MANIFEST})")
    name, version = str(manifest["name"]), str(manifest["version"])
    tag = hashlib.sha256(location.encode()).hexdigest()[:8]
    local = cache_root() / "versions" / check_name(name) / f"{version}-{tag}"
    local.mkdir(parents=True, exist_ok=True)
    for file, digest in dict(manifest["files"]).items():
        target = local / file
        if target.is_file() and _sha256(target) == digest:
            continue
        try:
            data = store.get(file)
        except StorageError as e:
            raise ModelError(f"model {name}/{version}: cannot read {store.uri(file)}: {e}") from e
        if hashlib.sha256(data).hexdigest() != digest:
            raise ModelError(f"model {name}/{version}: {store.uri(file)} does not match "
                             "its hash in model.json (corrupt or replaced)")
        with tempfile.NamedTemporaryFile(dir=local, delete=False, prefix=f".{file}-") as tmp:
            tmp.write(data)
        Path(tmp.name).replace(target)
    return ModelVersion(name, version, location, manifest, local)


# --- publishing ------------------------------------------------------------------------


def _read_bundle(bundle: Path) -> tuple[dict[str, Any], list[str]]:
    for file in (MANIFEST, CHARSET_FILE, *WEIGHTS.values()):
        if not (bundle / file).is_file():
            raise ModelError(f"{bundle / file}: missing (a trained bundle holds {MANIFEST}, "
                             f"{CHARSET_FILE}, {', '.join(WEIGHTS.values())})")
    try:
        meta = json.loads((bundle / MANIFEST).read_text("utf-8"))
        charset = json.loads((bundle / CHARSET_FILE).read_text("utf-8"))
    except ValueError as e:
        raise ModelError(f"{bundle}: unreadable JSON: {e}") from e
    if not (isinstance(charset, list) and len(charset) > 2 and charset[-1] == " "):
        raise ModelError(f"{bundle / CHARSET_FILE}: expected a list of classes "
                         "(the CTC blank first, the space last)")
    return meta, [str(c) for c in charset]


def _parity(module: Any, onnx_path: Path, kind: str, seed: int = 0) -> float:
    """Max |torch - onnxruntime| over inputs of two shapes per network."""
    import onnxruntime as ort
    import torch

    shapes = {"det": [(1, 3, 96, 128), (2, 3, 160, 96)],
              "rec": [(1, 3, 48, 160), (3, 3, 48, 320)],
              "cls": [(2, 3, 48, 192)]}[kind]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for shape in shapes:
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
    return worst


def _version_id(bundle: Path) -> str:
    digest = hashlib.sha256()
    for file in (CHARSET_FILE, *WEIGHTS.values()):
        digest.update(_sha256(bundle / file).encode())
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{digest.hexdigest()[:8]}"


def publish(lake: str, name: str, bundle: Path) -> str:
    """Store a trained bundle as a new version of ``name`` in ``lake``; return its version.

    The modules are exported to ONNX and each export is run against torch (parity over
    random inputs, at most ``PARITY_TOLERANCE``) before anything is written: a version whose
    exports disagree with its weights is refused.
    """
    from ocr_tasks.engine import models
    from ocr_tasks.engine.models.export import export_module

    check_name(name)
    bundle = Path(bundle)
    meta, charset = _read_bundle(bundle)
    version = _version_id(bundle)
    store = _lake_store(lake)
    prefix = f"{MODELS_PREFIX}/{name}/{version}"
    with tempfile.TemporaryDirectory(prefix="ocr-publish-") as tmp:
        staging = Path(tmp)
        parity: dict[str, float] = {}
        modules = {"cls": models.load_direction_classifier("cpu")}
        for kind, file in WEIGHTS.items():
            import torch

            state = torch.load(bundle / file, map_location="cpu", weights_only=True)
            modules[kind] = models.load_trained(kind, state, num_classes=len(charset),
                                                size=recorded_rec_size(meta))
        for kind, module in modules.items():
            path = export_module(module, kind, staging / ONNX_FILES[kind])
            parity[kind] = _parity(module, path, kind)
            if parity[kind] > PARITY_TOLERANCE:
                raise ModelError(f"the ONNX export of {kind} differs from torch by "
                                 f"{parity[kind]:.2g} (> {PARITY_TOLERANCE}); not published")
        files = {f: bundle / f for f in (CHARSET_FILE, *WEIGHTS.values())}
        files.update({ONNX_FILES[k]: staging / ONNX_FILES[k] for k in ONNX_FILES})
        for file, path in files.items():
            store.put_file(f"{prefix}/{file}", path)
        manifest = {
            **{k: v for k, v in meta.items() if k not in ("name", "version", "files")},
            "name": name, "version": version,
            "parent": meta.get("parent", models.MODEL_VERSION),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "classes": len(charset), "onnx_parity_max_abs": parity,
            "files": {f: _sha256(p) for f, p in files.items()},
        }  # fmt: skip
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
        if not store.put_if_absent(f"{prefix}/{MANIFEST}", body):
            raise ModelError(f"model {name}/{version} already exists in {lake}")
    return version


# --- listing and promotion -------------------------------------------------------------


def list_versions(lake: str, name: str | None = None) -> Iterator[dict[str, Any]]:
    """The manifests of complete versions (``model.json`` present), by name then version."""
    store = _lake_store(lake)
    prefix = f"{MODELS_PREFIX}/{check_name(name)}/" if name else f"{MODELS_PREFIX}/"
    keys = sorted(o.key for o in store.list(prefix) if o.key.endswith(f"/{MANIFEST}"))
    for key in keys:
        manifest = _read_json(store, key)
        if manifest is not None and key.count("/") == 3:
            yield manifest


def show(lake: str, name: str, version: str | None = None) -> dict[str, Any]:
    """One version's manifest (``version`` None: the promoted one)."""
    version = version or promoted(lake, name)
    if not version:
        raise ModelError(f"model {name!r} has no promoted version in {lake}; name a version")
    manifest = _read_json(_lake_store(lake), f"{MODELS_PREFIX}/{check_name(name)}/{version}/"
                          f"{MANIFEST}")
    if manifest is None:
        raise ModelError(f"model {name}/{version} is not in {lake}")
    return manifest


def promote(lake: str, name: str, version: str, attempts: int = 10) -> dict[str, Any]:
    """Make ``version`` what ``OCR_ENGINE_MODEL=<name>`` means from the next run on.

    Compare-and-swap on ``promoted.json``, which keeps the last promotions (a rollback is a
    promotion of the previous version)."""
    show(lake, name, version)  # refuses an unknown version
    store = _lake_store(lake)
    key = f"{MODELS_PREFIX}/{name}/{PROMOTED}"
    for _ in range(attempts):
        current = store.get_versioned(key)
        previous = json.loads(current[0]) if current else {}
        history = [{"version": previous["version"], "promoted_at": previous["promoted_at"]},
                   *previous.get("history", [])] if previous else []
        record = {"version": version,
                  "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "history": history[:PROMOTION_HISTORY]}
        body = json.dumps(record, indent=2).encode()
        done = (store.put_if_absent(key, body) if current is None
                else store.put_if_version(key, body, current[1]))
        if done:
            return record
    raise ModelError(f"could not promote {name}/{version}: {key} kept changing")
