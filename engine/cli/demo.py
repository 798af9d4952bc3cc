"""`facecomp demo`: run the whole pipeline on the shared demo media and say where everything is."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.demo import default_data_dir, plan, run_demo


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", type=Path, default=Path("workspace"), help="workspace folder (DFL layout)")
    p.add_argument(
        "--data", type=Path, default=None, help="shared media folder (default: ../shared/data beside the checkout)"
    )
    p.add_argument("--iterations", type=int, default=1500, help="training iterations of the demo model")
    p.add_argument("--fresh", action="store_true", help="delete the workspace and start over")


def run(args: argparse.Namespace) -> int:
    data = args.data or default_data_dir()
    from engine.cli import main

    ran = run_demo(args.workspace, data, args.iterations, args.fresh, runner=main)
    total = sum(s for _, s in ran)
    print(f"\ndemo finished ({total / 60:.1f} min this run). Workspace: {args.workspace.resolve()}")
    for step in plan(args.workspace, data, args.iterations):
        print(f"  {step.name:32s} {step.produces}")
    return 0
