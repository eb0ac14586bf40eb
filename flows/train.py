"""Prefect flow for staged fine-tuning: orchestration only.

The stages run in ``ocr_tasks.training``; this flow gives each finished stage a Markdown
artifact (its validation figures against the pretrained start) and returns the summary.
Run again with the same parameters to resume after the last finished stage.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from ocr_tasks.training import StageResult, TrainConfig, train
from ocr_tasks.training.report import artifact_key, stage_markdown
from ocr_tasks.training.sources import load_dataset, parse_fractions
from ocr_tasks.training.stages import parse_parts, resolve_device


@flow(name="train")
def train_flow(
    work: str,
    data: str | None = None,
    data_format: str = "funsd",
    from_lake: str | None = None,
    sidecars: str | None = None,
    fractions: str | None = None,
    stages: int | None = None,
    steps_per_stage: int | None = None,
    parts: str | None = None,
    device: str = "auto",
    threads: int = 2,
    name: str = "finetuned",
) -> dict[str, Any]:
    """Fine-tune in stages on the given data; one Markdown artifact per stage."""
    from prefect.artifacts import create_markdown_artifact

    logger = get_run_logger()
    dataset = load_dataset(data=data, fmt=data_format, lake=from_lake, sidecars=sidecars,
                           fractions=parse_fractions(fractions) if fractions else None)
    for problem in dataset.problems:
        logger.warning("skipped %s", problem)
    config = TrainConfig.defaults(resolve_device(device), stages=stages,
                                  steps_per_stage=steps_per_stage, threads=threads,
                                  parts=parse_parts(parts) if parts else None)
    seen: list[StageResult] = []

    def on_stage(result: StageResult) -> None:
        seen.append(result)
        create_markdown_artifact(stage_markdown(result, seen, name),
                                 key=artifact_key(name, result.stage),
                                 description=f"{name}: validation after stage {result.stage}")

    result = train(dataset, work, config, name=name, on_stage=on_stage, log=logger.info)
    return {"bundle": str(result.bundle), "best_stage": result.best,
            "stages": [r.to_dict() for r in result.stages], "skipped": result.skipped,
            **result.against_bundled}
