"""``ocr-pipeline train``: staged fine-tuning of the recognizer and detector.

Progress goes to stderr, the per-stage figures to stdout as JSON. Running the same command
again resumes after the last finished stage. With ``--lake`` and ``--name`` the best stage's
bundle is published to the lake's model registry at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from ocr_tasks.cli.args import uri


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="fine-tune the recognizer and detector in stages, validating after each",
        description="Validates the pretrained model (stage 0), trains --stages stages of "
        "--steps-per-stage steps, validates after each on the val split only, and writes the "
        "best stage that is not worse than the start to WORK/bundle. Re-run to resume.",
    )
    p.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="labelled data folder (default: none; see --from-lake, --synthetic)",
    )
    p.add_argument(
        "--format",
        choices=["funsd", "dataset"],
        default="funsd",
        help="layout of --data: funsd (annotations/, images/) or dataset "
        "(pages.jsonl written by the datasets module) (default: %(default)s)",
    )
    p.add_argument(
        "--from-lake",
        type=uri,
        metavar="LAKE",
        help="also train on the lake's returned audit transcriptions (default: none)",
    )
    p.add_argument(
        "--sidecars",
        type=uri,
        metavar="SOURCE",
        help="also train on the documents with truth sidecars in this source (default: none)",
    )
    p.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also train on N rendered synthetic pages (written to WORK/synth; "
        "default: %(default)s)",
    )
    p.add_argument(
        "--synthetic-only",
        action="store_true",
        help="train on the synthetic pages alone; --data/--from-lake only validate",
    )
    p.add_argument(
        "--fractions",
        metavar="T,V,X",
        help="train,val,test shares of the split by document (default 0.8,0.1,0.1; "
        "a dataset folder keeps its recorded splits unless given)",
    )
    p.add_argument(
        "--work",
        required=True,
        type=Path,
        metavar="DIR",
        help="work folder: stage checkpoints and the final bundle",
    )
    p.add_argument("--stages", type=int, metavar="N",
                   help="stages (default OCR_TRAIN_STAGES, else the recognizer size's recipe: "
                   "small 3, tiny 4)")
    p.add_argument(
        "--steps-per-stage",
        type=int,
        metavar="N",
        help="optimizer steps per stage (default OCR_TRAIN_STEPS_PER_STAGE, else small 40, "
        "tiny 250)",
    )
    p.add_argument(
        "--parts",
        help="networks to train: rec, det or rec,det (default OCR_TRAIN_PARTS, rec)",
    )
    p.add_argument(
        "--line-share",
        type=float,
        metavar="F",
        help="share of line crops in a recognizer batch (default OCR_TRAIN_LINE_SHARE, 0.8)",
    )
    p.add_argument(
        "--rec-size",
        choices=("small", "tiny"),
        help="recognizer to start from: small, or tiny (~4x cheaper per line, trained into "
        "its own model version) (default OCR_TRAIN_REC_SIZE, small)",
    )
    p.add_argument(
        "--distill",
        type=float,
        metavar="W",
        help="weight of the small recognizer's targets when training the tiny one "
        "(default OCR_TRAIN_DISTILL, 0 = CTC only)",
    )
    p.add_argument(
        "--freeze-backbone",
        action="store_true",
        help="train only the recognizer's sequence encoder and head",
    )
    p.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (default: %(default)s)"
    )
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default: %(default)s)")
    p.add_argument("--seed", type=int, help="base seed (default OCR_TRAIN_SEED)")
    p.add_argument(
        "--rec-batch",
        type=int,
        help="recognizer crops per step (default: OCR_TRAIN_REC_BATCH, 16, on CPU; "
        "OCR_TRAIN_REC_BATCH_GPU, 128, on CUDA)",
    )
    p.add_argument(
        "--det-batch",
        type=int,
        help="detector page windows per step (default: OCR_TRAIN_DET_BATCH, 1, on CPU; "
        "OCR_TRAIN_DET_BATCH_GPU, 8, on CUDA)",
    )
    p.add_argument(
        "--rec-lr", type=float, help="recognizer learning rate (default: OCR_TRAIN_REC_LR, "
        "else small 2e-5, tiny 1e-4)"
    )
    p.add_argument(
        "--det-lr", type=float, help="detector learning rate (default: OCR_TRAIN_DET_LR, 2e-5)"
    )
    p.add_argument(
        "--name",
        help="model name (in model.json; with --lake: the registry name; default: 'finetuned')",
    )
    p.add_argument(
        "--lake",
        type=uri,
        help="publish the bundle to this lake's model registry (default: not published)",
    )
    p.add_argument(
        "--json",
        dest="json_out",
        type=Path,
        metavar="OUT",
        help="also write the per-stage figures to this file (default: none)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ocr_tasks.core.errors import InputError
    from ocr_tasks.training import TrainConfig, train
    from ocr_tasks.training.sources import load_dataset, parse_fractions, synthetic_pages
    from ocr_tasks.training.stages import parse_parts, resolve_device

    if args.lake is not None and args.name is None:
        raise InputError("--lake needs --name (the model's name in the registry)")
    for flag in ("stages", "steps_per_stage", "rec_batch", "det_batch", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.line_share is not None and not 0.0 <= args.line_share <= 1.0:
        raise InputError("--line-share must be between 0 and 1")
    fractions = parse_fractions(args.fractions) if args.fractions else None
    if args.synthetic_only and args.synthetic < 1:
        raise InputError("--synthetic-only needs --synthetic N")
    synthetic = (
        synthetic_pages(args.synthetic, args.work / "synth", args.seed or 0)
        if args.synthetic > 0
        else None
    )
    dataset = load_dataset(
        data=args.data,
        fmt=args.format,
        lake=args.from_lake,
        sidecars=args.sidecars,
        fractions=fractions,
        synthetic=synthetic,
        synthetic_only=args.synthetic_only,
    )
    for problem in dataset.problems:
        print(f"skipped {problem}", file=sys.stderr)
    config = TrainConfig.defaults(
        resolve_device(args.device),
        stages=args.stages,
        steps_per_stage=args.steps_per_stage,
        parts=parse_parts(args.parts) if args.parts else None,
        threads=args.threads,
        freeze_backbone=args.freeze_backbone or None,
        line_share=args.line_share,
        rec_size=args.rec_size,
        distill=args.distill,
        seed=args.seed,
        rec_batch=args.rec_batch,
        det_batch=args.det_batch,
        rec_lr=args.rec_lr,
        det_lr=args.det_lr,
    )

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    name = args.name or "finetuned"
    result = train(dataset, args.work, config, name=name, log=log)
    summary: dict[str, Any] = {
        "bundle": str(result.bundle),
        "best_stage": result.best,
        "skipped": result.skipped,
        "charset_added": result.charset_added,
        **result.against_bundled,
        "stages": [
            {
                "stage": r.stage,
                "step": r.step,
                "promoted": r.promoted,
                "worse_than_start": r.worse_than_start,
                **r.metrics,
                "train_loss": r.train_loss,
            }
            for r in result.stages
        ],
    }
    if args.lake is not None:
        registry = importlib.import_module("ocr_tasks.engine.registry")
        summary["published"] = registry.publish(args.lake, args.name, result.bundle)
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n")
    print(text)
    return 0
