"""`facecomp video`: merged frames (or masks) -> result.mp4 / result_mask.mp4, fps and audio from data_dst.mp4."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from engine.errors import FacecompError
from engine.media.plate_space import HELP as WORKING_SPACE_HELP
from engine.media.plate_space import exr_space
from engine.media.video import CODECS, DEFAULT_BITRATE, write_video

log = logging.getLogger("facecomp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("frames", nargs="?", default="workspace/data_dst/merged", help="frames folder or pattern")
    p.add_argument("out", nargs="?", type=Path, default=None,
                   help="video file (default workspace/result.mp4, result_mask.mp4 for a *_mask folder)")
    p.add_argument("--reference", type=Path, default=None,
                   help="video whose frame rate and audio are used (default: data_dst.mp4 beside data_dst/ when "
                        "FRAMES is data_dst/merged or data_dst/merged_mask)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: the reference's, else 25)")
    p.add_argument("--codec", choices=CODECS, default=None, help="h264 (.mp4) or prores4444 (.mov, with alpha)")
    p.add_argument("--bitrate", type=float, default=None, help=f"H.264 bitrate in Mbit/s (default {DEFAULT_BITRATE:g})")
    p.add_argument("--alpha", type=Path, default=None, help="ProRes 4444: mask frames used as alpha (merged_mask)")
    p.add_argument("--working-space", default=None, help=WORKING_SPACE_HELP)


def run(args: argparse.Namespace) -> int:
    frames = Path(args.frames)
    out = args.out
    if out is None:
        out = Path("workspace") / ("result_mask.mp4" if frames.name.endswith("_mask") else "result.mp4")
    if args.fps is not None and not 0 < args.fps <= 1000:
        raise FacecompError(f"--fps {args.fps} outside 0..1000")
    if args.bitrate is not None and not 0 < args.bitrate <= 1000:
        raise FacecompError(f"--bitrate {args.bitrate} outside 0..1000 Mbit/s")
    reference = args.reference
    implicit = frames.parent.with_suffix(".mp4")
    if reference is None and args.fps is None and frames.parent.name and implicit.is_file():
        reference = implicit
        log.info("frame rate and audio from %s", implicit)
    ws = args.working_space
    exrs = sorted(frames.glob("*.exr")) if ws is None and frames.is_dir() else []
    if exrs:
        ws = exr_space(exrs[0])  # the rule of every verb: the EXR's oiio:ColorSpace, else ACEScg
    report = write_video(frames, out, reference, args.fps, args.codec, args.bitrate, args.alpha, ws)
    audio = f", audio {report.audio}" if report.audio else ""
    print(f"{report.frames} frames at {float(report.fps):.3f} fps{audio} -> {report.path}")
    return 0
