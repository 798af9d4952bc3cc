"""`facecomp doctor`: check a machine (versions, providers, face models, the hosts' facecomp, a test render)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.doctor import as_json, run_checks
from engine.swap.onnx_model import PROVIDER_CHOICES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=None, help="exported model (.onnx/.dfm) for the test render")
    p.add_argument("--plate", type=Path, default=None, help="plate (sequence pattern, folder or video) to render")
    p.add_argument("--frame", type=int, default=None, help="frame to render (default: the plate's first)")
    p.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help="provider of the test render")
    p.add_argument("--no-host", action="store_true", help="skip starting the hosts' facecomp executable")
    p.add_argument("--json", action="store_true", help="print the checks as a JSON list")


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.model, args.plate, args.frame, args.provider, host=not args.no_host)
    if args.json:
        print(json.dumps(as_json(checks)))
    else:
        for check in checks:
            print(check.line())
    failed = [c for c in checks if c.status == "FAIL"]
    if not args.json:
        print(f"{len(failed)} problem(s)" if failed else "all checks passed")
    return 1 if failed else 0
