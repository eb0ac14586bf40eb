"""The trained model as a folder: what the registry exports, checks and stores.

``rec.pt``: state_dict of ``TextRecognizer(len(charset), size)`` (``model.json``'s
``rec_size``, "small" when absent); ``det.pt``: state_dict of ``TextDetector``;
``charset.json``: the recognizer's classes ([0] = "<blank>", last = " "); ``model.json``: name,
parent model version, recognizer size, the stages with their validation figures, the training
config and the dataset card. Written to a temporary folder and renamed into place,
so a reader never sees half a bundle.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ocr_tasks.engine.models.catalog import recorded_rec_size
from ocr_tasks.engine.models.detector import TextDetector
from ocr_tasks.engine.models.recognizer import TextRecognizer
from ocr_tasks.engine.models.zoo import load_trained

FILES = ("rec.pt", "det.pt", "charset.json", "model.json")


def write_bundle(folder: Path, *, rec: nn.Module, det: nn.Module, charset: Sequence[str],
                 meta: dict[str, Any]) -> Path:
    """Write the bundle (replacing an older one) and return its folder."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({k: v.detach().cpu() for k, v in rec.state_dict().items()}, tmp / "rec.pt")
    torch.save({k: v.detach().cpu() for k, v in det.state_dict().items()}, tmp / "det.pt")
    (tmp / "charset.json").write_text(json.dumps(list(charset), ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    (tmp / "model.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n",
                                    encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def load_bundle(folder: Path) -> tuple[TextRecognizer, TextDetector, list[str], dict[str, Any]]:
    """The bundle's modules (CPU, eval mode), charset and metadata."""
    charset = json.loads((folder / "charset.json").read_text(encoding="utf-8"))
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    rec = load_trained("rec", _state(folder / "rec.pt"), num_classes=len(charset),
                       size=recorded_rec_size(meta))
    det = load_trained("det", _state(folder / "det.pt"))
    assert isinstance(rec, TextRecognizer) and isinstance(det, TextDetector)
    return rec, det, charset, meta


def _state(path: Path) -> dict[str, torch.Tensor]:
    return dict(torch.load(path, map_location="cpu", weights_only=True))
