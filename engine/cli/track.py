"""`facecomp track`: the smoothed alignment track of a shot (JSON sidecar read by merge, render and the hosts)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import FacecompError
from engine.media.plate_space import HELP as WORKING_SPACE_HELP
from engine.swap.onnx_model import PROVIDER_CHOICES
from engine.swap.settings import parse_frames
from engine.swap.smoothing import OneEuro
from engine.swap.track_build import build_track, track_jitter


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("frames", nargs="?", default="workspace/data_dst", help="the shot's frames (folder, pattern "
                   "plate.%%04d.exr, or video)")
    p.add_argument("--frames", default=None, dest="frame_range", metavar="A-B",
                   help="frames to track: 1001-1100, 1001-1010,1020 (default: all)")
    p.add_argument("--aligned", type=Path, default=None,
                   help="aligned faceset of the frames (default FRAMES/aligned if present; else faces are detected)")
    p.add_argument("--out", type=Path, default=None, help="track file (default FRAMES/track.json)")
    p.add_argument("--no-smooth", action="store_true", help="keep the landmarks as detected")
    p.add_argument("--min-cutoff", type=float, default=OneEuro.min_cutoff,
                   help="One-Euro minimum cutoff in Hz (lower = smoother when still)")
    p.add_argument("--beta", type=float, default=OneEuro.beta,
                   help="One-Euro speed coefficient (higher = follows fast motion more closely)")
    p.add_argument("--no-cuts", action="store_true", help="do not look for cuts in the picture")
    p.add_argument("--no-identities", action="store_true",
                   help="name each track id (face0, face1 ...) instead of joining the runs of one person across cuts")
    p.add_argument("--max-faces", type=int, default=0, help="keep at most N faces per frame, largest first (0 = all)")
    p.add_argument("--working-space", default=None, help=WORKING_SPACE_HELP)
    p.add_argument("--xseg-model", type=Path, default=None,
                   help="exported XSeg .onnx (or XSeg model folder): store every face's XSeg mask in the track, "
                        "so the XSeg-dst mask mode needs no XSeg model at render time (replaces a faceset's masks)")
    p.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto",
                   help="provider for face detection and the XSeg model")


def run(args: argparse.Namespace) -> int:
    frames = Path(args.frames)
    aligned = args.aligned
    if aligned is None and frames.is_dir() and (frames / "aligned").is_dir():
        aligned = frames / "aligned"
    if aligned is not None and not aligned.is_dir():
        raise FacecompError("aligned faceset folder does not exist", aligned)
    out = args.out or ((frames if frames.is_dir() else frames.parent) / "track.json")
    if args.min_cutoff <= 0 or args.beta < 0:
        raise FacecompError("--min-cutoff must be > 0 and --beta >= 0")
    numbers = parse_frames(args.frame_range, "--frames") if args.frame_range else None
    track = build_track(args.frames, aligned, smooth=not args.no_smooth, min_cutoff=args.min_cutoff, beta=args.beta,
                        detect_cut=not args.no_cuts, max_faces=args.max_faces,
                        provider=args.provider, working_space=args.working_space, frames=numbers,
                        identities=not args.no_identities, xseg_model=args.xseg_model)
    track.save(out)
    raw, used = track_jitter(track)
    n_faces = sum(len(f.faces) for f in track.frames.values())
    ids = len({f.id for fr in track.frames.values() for f in fr.faces})
    print(f"{len(track.frames)} frames, {n_faces} faces ({ids} tracks), {len(track.cuts)} cuts; "
          f"jitter {raw:.3f} px raw -> {used:.3f} px smoothed; faces: {', '.join(track.face_names) or '-'}"
          f"{'; XSeg masks' if track.xseg else ''} -> {out}")
    return 0
