"""`facecomp frames`: video (or image sequence) -> numbered frames, DeepFaceLab's naming (00001.png ...)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from engine.errors import FacecompError
from engine.media.frames import extract_frames


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="video file (any PyAV-readable), image folder or pattern (plate.%%04d.exr)")
    p.add_argument("out_dir", type=Path, help="folder for the frames (data_src or data_dst)")
    p.add_argument(
        "--fps", type=float, default=None, help="lower frame rate (src: DFL advises ~20 of 30); default all frames"
    )
    p.add_argument("--format", choices=("png", "jpg", "exr"), default="png", help="frame format")
    p.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality (1-100)")
    p.add_argument("--exr-space", default="ACEScg", help="colour space of EXR frames (OCIO name)")
    p.add_argument("--overwrite", action="store_true", help="replace frames already in OUT_DIR")


def run(args: argparse.Namespace) -> int:
    if shutil.disk_usage(args.out_dir.parent if args.out_dir.parent.exists() else Path.cwd()).free < 64 << 20:
        raise FacecompError("less than 64 MiB free", args.out_dir)
    n = extract_frames(
        args.video,
        args.out_dir,
        fps=args.fps,
        fmt=args.format,
        jpeg_quality=args.jpeg_quality,
        exr_space=args.exr_space,
        overwrite=args.overwrite,
    )
    print(f"{n} frames -> {args.out_dir}")
    return 0
