"""``ocr-pipeline synth-dataset``: write N synthetic labelled pages as a training dataset.

The pages, their splits and the card are a function of ``--seed`` (and ``--augment``,
``--strength``); ``--workers`` only changes the speed. stdout gets the card's totals and
split counts as JSON; the full card is ``OUT/card.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "synth-dataset",
        help="generate synthetic labelled pages (a training dataset with its card)",
        description="Claim forms, policy schedules, ID cards, letters, invoices and tables "
        "in many fonts, with exact word boxes; optionally augmented with label-exact noise, "
        "blur, light, JPEG, ink bleed, low dpi, quarter turns, skew and perspective.",
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="new (or empty) dataset folder: images/, pages.jsonl, recipes.jsonl, "
                   "card.json")
    p.add_argument("--pages", required=True, type=int, metavar="N", help="pages to generate")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="the set's seed: the same seed gives the same pages (default: 0)")
    p.add_argument("--augment", action="store_true",
                   help="augment every page with a random label-exact recipe (default: clean)")
    p.add_argument("--strength", type=float, default=1.0, metavar="F",
                   help="scale of the augmentations' magnitudes (default: %(default)s)")
    p.add_argument("--image-format", choices=["png", "jpg"], default="png",
                   help="page images: png (lossless) or jpg (quality 95, a third of the size "
                   "for noisy augmented pages) (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes rendering pages (default: %(default)s)")
    p.add_argument("--name", help="dataset name in the card (default: the folder name)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ocr_tasks.cli.console import progress_enabled
    from ocr_tasks.core.errors import InputError
    from ocr_tasks.datasets.synthetic import write_synthetic

    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    with tqdm(total=args.pages, unit="page", disable=not progress_enabled(args.progress),
              desc="synth-dataset") as bar:
        card = write_synthetic(
            args.out, args.pages, args.seed, augment=args.augment, strength=args.strength,
            name=args.name, workers=args.workers, image_format=args.image_format,
            on_page=lambda _: bar.update(),
        )
    d = card.to_dict()
    print(json.dumps({"dataset": str(args.out.resolve()), "totals": d["totals"],
                      "splits": {s: c["pages"] for s, c in d["splits"]["counts"].items()},
                      "kinds": d["generator"]["kinds"]}, indent=2, ensure_ascii=False))
    return 0
