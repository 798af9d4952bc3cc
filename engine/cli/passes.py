"""`facecomp passes`: look inside pass files.

    facecomp passes info FILE.exr [--json] [--no-coverage]     layers, faces and their names, Cryptomattes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.swap.passes_info import describe, passes_info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("info", help="layers, faces and their names, Cryptomattes of a pass EXR")
    p.add_argument("file", type=Path, help="a pass EXR (merge --passes-out, render, the worker)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--no-coverage", action="store_true", help="do not read pixels (header only)")


def run(args: argparse.Namespace) -> int:
    info = passes_info(args.file, coverage=not args.no_coverage)
    print(json.dumps(info.to_json(), ensure_ascii=False, indent=1) if args.json else describe(info))
    return 0
