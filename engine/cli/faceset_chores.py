"""`facecomp faceset pack|unpack|restore-names|report|debug-landmarks`: DeepFaceLab's faceset chores (parsing
only; the work is in engine/faces)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

CHORES = ("pack", "unpack", "restore-names", "report", "debug-landmarks")


def add_chores(sub: Any) -> None:
    """Add the chores to ``facecomp faceset``'s sub-parsers."""
    pk = sub.add_parser("pack", help="one file for a whole faceset (uncompressed zip + JSON index, a safe format)")
    pk.add_argument("dir", type=Path, help="faceset folder")
    pk.add_argument("--out", type=Path, default=None, help="pack file (default DIR/faceset.zip)")
    pk.add_argument("--remove", action="store_true", help="delete the packed face files afterwards (as DFL does)")
    up = sub.add_parser("unpack", help="unpack a faceset.zip, or import DeepFaceLab's faceset.pak")
    up.add_argument("pack", type=Path, help="faceset.zip (facecomp) or faceset.pak (DeepFaceLab)")
    up.add_argument("--out", type=Path, default=None, help="faceset folder (default: the pack's folder)")
    up.add_argument("--overwrite", action="store_true", help="replace faces of the same name")
    rn = sub.add_parser("restore-names", help="rename sorted faces back to <frame>_<index> (their source frame)")
    rn.add_argument("dir", type=Path, help="faceset folder")
    rn.add_argument("--dry-run", action="store_true", help="only print the renames")
    rp = sub.add_parser("report", help="HTML contact sheet: counts and the faces to look at first")
    rp.add_argument("dir", type=Path, help="faceset folder")
    rp.add_argument("--out", type=Path, default=None, help="HTML file (default DIR/faceset_report.html)")
    rp.add_argument("--json", action="store_true", help="also print the findings as JSON")
    rp.add_argument("--no-identity", action="store_true", help="skip the identity outlier check (faster)")
    dbg = sub.add_parser("debug-landmarks", help="landmark debug images of the faces (and of their frames)")
    dbg.add_argument("dir", type=Path, help="faceset folder")
    dbg.add_argument("--out", type=Path, default=None, help="debug folder (default DIR_debug)")
    dbg.add_argument("--frames", type=Path, default=None,
                     help="the frames the faces came from: also draw each frame as extract --debug-dir does")


def run_chore(args: argparse.Namespace) -> int:
    if args.action == "pack":
        from engine.faces.faceset_pack import pack_faceset

        rep = pack_faceset(args.dir, args.out, remove=args.remove)
        print(f"{rep.faces} faces packed -> {rep.path} ({rep.bytes / 2**20:.1f} MiB)")
    elif args.action == "unpack":
        from engine.dfl.faceset_pak import unpack_faceset

        out = args.out or args.pack.parent
        print(f"{unpack_faceset(args.pack, out, args.overwrite)} faces -> {out}")
    elif args.action == "restore-names":
        from engine.faces.restore_names import restore_names

        pairs = restore_names(args.dir, dry_run=args.dry_run)
        for old, new in pairs:
            print(f"{old} -> {new}")
        print(f"{len(pairs)} faces {'would be ' if args.dry_run else ''}renamed")
    elif args.action == "debug-landmarks":
        from engine.faces.landmarks_debug import write_landmarks_debug

        drawn = write_landmarks_debug(args.dir, args.out, args.frames)
        frames = f" and {drawn.frames} frames" if args.frames else ""
        missing = f" ({len(drawn.missing_frames)} frames not found, e.g. {drawn.missing_frames[0]})" \
            if drawn.missing_frames else ""
        print(f"{drawn.faces} faces{frames} drawn -> {drawn.out}{missing}")
    else:
        from engine.faces.faceset_report import write_faceset_report

        report = write_faceset_report(args.dir, args.out, identity=not args.no_identity)
        if args.json:
            print(json.dumps(report.to_json()))
        else:
            print(report.summary())
    return 0
