"""Staged fine-tuning of the recognizer (CTC) and the detector (DB) on labelled datasets.

``train(dataset, work, config)`` validates the pretrained start, trains in stages with a
validation after each, keeps the best stage that is not worse than the start, resumes from
the last finished stage, and writes the bundle (``rec.pt``, ``det.pt``, ``charset.json``,
``model.json``) that the model registry exports.

Layer: beside ``quality``; imports ``datasets``, ``evaluation``, ``engine`` and below.
"""

from ocr_tasks.training.bundle import FILES as BUNDLE_FILES
from ocr_tasks.training.bundle import load_bundle, write_bundle
from ocr_tasks.training.stages import StageResult, TrainConfig, TrainResult, best_stage, train

__all__ = ["BUNDLE_FILES", "StageResult", "TrainConfig", "TrainResult", "best_stage",
           "load_bundle", "train", "write_bundle"]
