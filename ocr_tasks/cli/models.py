"""``ocr-pipeline models``: the model versions stored in a lake, and which one is promoted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ocr_tasks.cli.args import uri


def register(sub: Any) -> None:
    help_text = "list, show, publish and promote the model versions stored in a lake"
    p = sub.add_parser("models", help=help_text, description=help_text[0].upper()
                       + help_text[1:] + ". Ingestion runs the version OCR_ENGINE_MODEL names "
                       "(default 'bundled'; a bare name means its promoted version).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True,
                               help="list, show, publish or promote")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        a.add_argument("--lake", required=True, type=uri, help="folder or s3://bucket/prefix")
        return a

    a = action("list", "one line per stored version: name, version, parent, metrics")
    a.add_argument("name", nargs="?", help="only this model (default: all models)")
    a.add_argument("--json", action="store_true", help="print the manifests as JSON")
    a.set_defaults(func=list_command)
    a = action("show", "a version's manifest: parent, config, metrics per stage, card")
    a.add_argument("name", help="model name")
    a.add_argument("version", nargs="?", help="version (default: the promoted version)")
    a.set_defaults(func=show_command)
    a = action("publish", "store a trained bundle (from `ocr-pipeline train`) as a new "
               "version, after checking its ONNX exports against torch")
    a.add_argument("name", help="model name (a-z 0-9 . _ -)")
    a.add_argument("bundle", type=Path, help="folder with model.json, charset.json, rec.pt, det.pt")
    a.set_defaults(func=publish_command)
    a = action("promote", "make a version what OCR_ENGINE_MODEL=<name> runs from the next "
               "run on (promoting the previous version again rolls back)")
    a.add_argument("name", help="model name")
    a.add_argument("version", help="a stored version (see `models list`)")
    a.set_defaults(func=promote_command)


def _summary(manifest: dict[str, Any]) -> str:
    """The validation figures of the stage a version was made from (``ocr-pipeline train``
    records ``promoted_stage`` and ``stages``; hand-made ones may record ``best``), its
    recognizer size, and for a smaller one whether it holds the bundled model's accuracy."""
    stages = manifest.get("stages")
    if isinstance(stages, list) and isinstance(manifest.get("promoted_stage"), int):
        best: Any = next(
            (s for s in stages if s.get("stage") == manifest["promoted_stage"]), {})
    else:
        best = manifest.get("best") or {}
    metrics = best.get("metrics", best) if isinstance(best, dict) else {}
    shown = [f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)][:4]
    if manifest.get("rec_size"):
        shown.append(f"rec={manifest['rec_size']}")
    if "holds_accuracy" in manifest:
        shown.append("holds accuracy" if manifest["holds_accuracy"] else
                     "falls behind the bundled model in "
                     + ",".join(manifest.get("falls_behind_in", [])))
    return " ".join(shown)


def _existing(lake: str) -> None:
    """Refuse a mistyped path in one line: a registry or a lake must be there already."""
    from ocr_tasks.engine import registry
    from ocr_tasks.lake.tables import Lake

    if next(registry.list_versions(lake), None) is None:
        Lake.open_existing(lake)


def list_command(args: argparse.Namespace) -> int:
    from ocr_tasks.engine import registry

    _existing(args.lake)
    manifests = list(registry.list_versions(args.lake, args.name))
    if args.json:
        print(json.dumps(manifests, indent=2, ensure_ascii=False))
        return 0
    if not manifests:
        print(f"no model versions in {args.lake} (the bundled model is always available)")
        return 0
    promoted = {m["name"]: registry.promoted(args.lake, m["name"]) for m in manifests}
    for m in manifests:
        mark = "*" if promoted[m["name"]] == m["version"] else " "
        print(f"{mark} {m['name']}/{m['version']}  parent={m.get('parent', '')}  "
              f"{_summary(m)}".rstrip())
    print("(* promoted: what OCR_ENGINE_MODEL=<name> runs)")
    return 0


def show_command(args: argparse.Namespace) -> int:
    from ocr_tasks.engine import registry

    _existing(args.lake)
    manifest = registry.show(args.lake, args.name, args.version)
    manifest["promoted"] = registry.promoted(args.lake, args.name) == manifest["version"]
    print(json.dumps(manifest, indent=2, ensure_ascii=False))
    return 0


def publish_command(args: argparse.Namespace) -> int:
    from ocr_tasks.engine import registry
    from ocr_tasks.lake.tables import Lake

    Lake.open(args.lake)  # a registry may come before the first ingestion
    version = registry.publish(args.lake, args.name, args.bundle)
    print(f"published {args.name}/{version}; promote it with `ocr-pipeline models promote "
          f"--lake {args.lake} {args.name} {version}`")
    return 0


def promote_command(args: argparse.Namespace) -> int:
    from ocr_tasks.engine import registry

    _existing(args.lake)
    record = registry.promote(args.lake, args.name, args.version)
    before = record["history"][0]["version"] if record["history"] else "none"
    print(f"promoted {args.name}/{args.version} (before: {before}); the next run with "
          f"OCR_ENGINE_MODEL={args.name} uses it")
    return 0
