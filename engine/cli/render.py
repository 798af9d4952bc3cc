"""`facecomp render`: stateless render of any frame range of a plate to EXR passes (what the hosts call)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.options import add_face_selection, add_model_face_type, add_options, add_pass_files
from engine.media.plate_space import HELP as WORKING_SPACE_HELP
from engine.swap.onnx_model import PROVIDER_CHOICES
from engine.swap.outputs import ORIGINS, parse_passes
from engine.swap.render import parse_faces, render_range
from engine.swap.settings import MERGE_OPTIONS, FrameSettings, parse_frames


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True,
                   help="exported model (.onnx/.dfm), or a training folder holding its export")
    p.add_argument("--plate", required=True, help="plate frames: pattern (plate.%%04d.exr, plate.####.exr), folder "
                   "or video")
    p.add_argument("--frames", default=None, help="frames to render: 1001-1100, 1001-1010,1020 (default: all)")
    p.add_argument("--out", required=True, help="output pattern, e.g. faceswap.%%04d.exr (plate frame numbers)")
    p.add_argument("--track", type=Path, default=None, help="alignment track of the shot (default: detect per frame)")
    p.add_argument("--settings", type=Path, default=None, help="merge settings file (TOML/JSON)")
    p.add_argument("--working-space", default=None, help=WORKING_SPACE_HELP)
    p.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help="ONNX Runtime execution provider")
    add_face_selection(p)
    add_model_face_type(p)
    p.add_argument("--xseg-model", type=Path, default=None,
                   help="XSeg model for the XSeg mask modes: an exported XSeg .onnx or an XSeg model folder")
    add_pass_files(p, "passes to write")
    p.add_argument("--patches", type=Path, default=None, help="also write per-face patches + matrix JSON here")
    p.add_argument("--origin", choices=ORIGINS, default="bottom-left", help="canvas origin of the patch matrices")
    add_options(p, MERGE_OPTIONS, "merge options (override the settings file)")


def run(args: argparse.Namespace) -> int:
    passes = parse_passes(args.passes)
    flags = {o.name: getattr(args, o.name, None) for o in MERGE_OPTIONS}
    settings = FrameSettings.load(args.settings, flags)
    frames = parse_frames(args.frames, "--frames") if args.frames else None
    select = parse_faces(args.faces)
    report = render_range(args.model, args.plate, frames, args.out, settings, args.track, args.working_space,
                          args.provider, passes, select, args.face_type, args.xseg_model, args.patches, args.origin,
                          exr_layout=args.exr_layout)
    n = len(report.frames)
    ms = 1000.0 * report.seconds / max(n, 1)
    print(f"{n} frames rendered ({report.faces} faces), {ms:.0f} ms/frame on "
          f"{', '.join(p.replace('ExecutionProvider', '') for p in report.providers)} -> {args.out}")
    return 0
