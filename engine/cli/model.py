"""`facecomp model info MODEL`: DeepFaceLab's model summary box of a training folder or an exported model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.quality.options_box import model_facts, options_box


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = sub.add_parser("info", help="kind, archi, dims, resolution, face type, iteration, training time, loss")
    info.add_argument("model", type=Path, nargs="?", default=Path("workspace/model"),
                      help="training folder (model.json) or exported .onnx/.dfm (default workspace/model)")
    info.add_argument("--json", action="store_true", help="print the facts as one JSON object")


def run(args: argparse.Namespace) -> int:
    facts = model_facts(args.model)
    print(json.dumps(facts) if args.json else options_box(facts))
    return 0
