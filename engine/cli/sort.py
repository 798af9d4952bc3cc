"""`facecomp sort`: reorder (and clean) a faceset with DeepFaceLab's sort methods, or keep one identity."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.cli.options import option_type
from engine.faces.sort import DFL_ALIASES, METHOD_OPTION, METHODS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="faceset folder (renamed 00000.jpg ... in the new order)")
    p.add_argument("--by", required=True, type=option_type(METHOD_OPTION), metavar="METHOD",
                   help="; ".join(f"{k}: {v}" for k, v in METHODS.items()).replace("%", "%%")
                   + "; DFL's names: " + ", ".join(f"{k} = {v}" for k, v in DFL_ALIASES.items()))
    p.add_argument("--target-count", type=int, default=2000, help="best / best-faster: faces to keep")
    p.add_argument("--absdiff-mode", choices=("similar", "dissimilar"), default="similar", help="absdiff order")
    p.add_argument("--reference", type=Path, nargs="+", default=[], metavar="IMG",
                   help="identity: pictures (faceset files or any images) of the person to keep")
    p.add_argument("--threshold", type=float, default=None,
                   help="identity: largest embedding distance that counts as the same person (default 0.42)")
    p.add_argument("--dry-run", action="store_true", help="only report what would happen")
    p.add_argument("--json", action="store_true", help="print a JSON summary")


def run(args: argparse.Namespace) -> int:
    from engine.faces.sort import sort_faceset

    res = sort_faceset(args.dir, args.by, target_count=args.target_count, absdiff_mode=args.absdiff_mode,
                       references=args.reference, threshold=args.threshold, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(res.to_json() | {"dry_run": args.dry_run}))
        return 0
    moved = len(res.trash) + len(res.unreadable)
    verb = "would keep" if args.dry_run else "kept"
    print(f"sort {args.by}: {verb} {len(res.order)} faces in order" +
          (f", {moved} moved to {res.trash_dir}" if moved else ""))
    if res.unreadable:
        print(f"{len(res.unreadable)} files without faceset metadata: {', '.join(p.name for p in res.unreadable[:5])}")
    return 0
