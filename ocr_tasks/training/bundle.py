"""The trained model as a folder: what the registry exports, checks and stores.

``rec.pt``: state_dict of ``TextRecognizer(num_classes=len(charset))``; ``det.pt``: state_dict
of ``TextDetector``; ``charset.json``: the recognizer's classes ([0] = "<blank>", last = " ");
``model.json``: name, parent model version, the stages with their validation figures, the
training config and the dataset card. Written to a temporary folder and renamed into place,
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

from ocr_tasks.engine.models.detector import TextDetector
from ocr_tasks.engine.models.recognizer import TextRecognizer

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
    rec = TextRecognizer(num_classes=len(charset))
    rec.load_state_dict(torch.load(folder / "rec.pt", map_location="cpu", weights_only=True))
    det = TextDetector()
    det.load_state_dict(torch.load(folder / "det.pt", map_location="cpu", weights_only=True))
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    return rec.eval(), det.eval(), charset, meta
