"""What a stage's figures say, as Markdown (the Prefect artifact per stage) and text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ocr_tasks.training.stages import StageResult

ROWS = (("crop CER", "crop_cer"), ("end-to-end word CER", "e2e_cer"),
        ("word H-mean", "hmean"), ("AP at IoU 0.5 (detection mAP)", "ap50"),
        ("bag-of-words F1", "bow_f1"))


def verdict(result: StageResult) -> str:
    if result.stage == 0:
        return "pretrained start"
    if result.promoted:
        return "promoted"
    return "not promoted: worse than the start in " + ", ".join(result.worse_than_start)


def stage_markdown(result: StageResult, results: Sequence[StageResult], name: str) -> str:
    """One stage against the pretrained start: a table of the validation figures."""
    start = results[0].metrics
    m = result.metrics
    lines = [f"# {name}: stage {result.stage} ({verdict(result)})", "",
             f"Validation split, {m['pages']} pages, {m['words']} words; step {result.step}, "
             f"{result.seconds} s.", "",
             "| metric | pretrained | this stage | change |", "|---|---|---|---|"]
    for label, key in ROWS:
        a, b = start.get(key), m.get(key)
        change = f"{b - a:+.4f}" if a is not None and b is not None else ""
        lines.append(f"| {label} | {a} | {b} | {change} |")
    if result.train_loss:
        lines += ["", "Mean training loss: " + ", ".join(
            f"{k} {v}" for k, v in sorted(result.train_loss.items()))]
    return "\n".join(lines) + "\n"


def artifact_key(name: str, stage: int) -> str:
    """``train-<name>-stage-<k>`` in Prefect's key alphabet (lowercase, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"
    return f"train-{slug[:40]}-stage-{stage}"
