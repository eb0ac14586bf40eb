"""The ONNX export runs without the torch exporter's 'Constant folding' warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

from ocr_tasks.engine.models.export import export_onnx


def test_detector_export_prints_no_constant_folding_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_onnx("det", tmp_path / "det.onnx")
    assert path.is_file() and path.stat().st_size > 0
    assert [str(w.message) for w in caught if "Constant folding" in str(w.message)] == []
