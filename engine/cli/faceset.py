"""`facecomp faceset`: show (info) or resize a faceset; pack, unpack, restore-names, report (faceset_chores)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.cli.faceset_chores import CHORES, add_chores, run_chore
from engine.cli.options import option_type
from engine.errors import FacecompError
from engine.faces.faceset import read_meta, require_faces
from engine.faces.facetype import CHOICES, FaceType, face_type_option
from engine.faces.resize import resize_faceset


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = sub.add_parser("info", help="print the metadata of face files (or of every face in a folder)")
    info.add_argument("paths", nargs="+", type=Path, help="face files or faceset folders")
    info.add_argument("--json", action="store_true", help="print a JSON list of objects")
    rs = sub.add_parser(
        "resize",
        help="resize a faceset (DFL's faceset resizer), originals untouched",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    rs.add_argument("dir", type=Path, help="faceset folder")
    rs.add_argument("--image-size", type=int, required=True, help="new side in pixels")
    rs.add_argument("--face-type", type=option_type(face_type_option()), default=None, metavar="TYPE",
                    help=f"also change the face type: {', '.join(CHOICES)} or DFL's short names h, mf, f, wf")
    rs.add_argument("--out", type=Path, default=None, help="output folder (default: DIR_<size>)")
    rs.add_argument("--jpeg-quality", type=int, default=95)
    add_chores(sub)


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        files.extend(require_faces(p) if p.is_dir() else [p])
    return files


def run(args: argparse.Namespace) -> int:
    if args.action in CHORES:
        return run_chore(args)
    if args.action == "info":
        metas = [(f, read_meta(f)) for f in _expand(args.paths)]
        if args.json:
            print(json.dumps([{"file": str(f), **m.to_json()} for f, m in metas]))
        else:
            for f, m in metas:
                x0, y0, x1, y1 = m.source_rect
                extra = " labels" if m.xseg_polys else ""
                extra += " mask" if m.xseg_mask else ""
                print(
                    f"{f}: {m.face_type} {m.size}px from {m.source_filename} "
                    f"(frame {m.source_frame}, face {m.face_index}), rect {x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}{extra}"
                )
        return 0
    if args.image_size < 16 or args.image_size > 4096:
        raise FacecompError(f"--image-size {args.image_size} outside 16..4096")
    out = args.out or args.dir.with_name(f"{args.dir.name}_{args.image_size}")
    n = resize_faceset(
        args.dir, args.image_size, out, FaceType.parse(args.face_type) if args.face_type else None, args.jpeg_quality
    )
    print(f"{n} faces resized to {args.image_size}px -> {out}")
    return 0
