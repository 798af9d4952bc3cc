"""`facecomp report`: quality figures of a trained model on a shot -> report.json + self-contained report.html.

    facecomp report --model model/model.onnx --src data_src/aligned --dst data_dst --out report/
    facecomp report --model a.onnx --compare b.onnx --src data_src/aligned --dst data_dst --out report/ --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.cli.options import add_model_face_type
from engine.media.plate_space import HELP as WORKING_SPACE_HELP
from engine.swap.onnx_model import PROVIDER_CHOICES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True,
                   help="exported model (.onnx/.dfm) to measure, or a training folder holding its export")
    p.add_argument("--src", type=Path, required=True, help="src faceset (the identity the swap should show)")
    p.add_argument("--dst", type=Path, required=True, help="dst frames: folder, pattern or video of the shot")
    p.add_argument("--aligned", type=Path, default=None,
                   help="aligned faceset of the dst frames (default DST/aligned; without one, faces are detected)")
    p.add_argument("--track", type=Path, default=None, help="alignment track of the shot (facecomp track)")
    p.add_argument("--out", type=Path, required=True, help="folder for report.json and report.html")
    p.add_argument("--compare", type=Path, default=None, help="a second exported model, measured side by side")
    p.add_argument("--model-dir", type=Path, default=None,
                   help="trained model folder of --model, for reconstruction SSIM/PSNR and options (default: the "
                        ".onnx's folder when it holds model.json)")
    p.add_argument("--compare-dir", type=Path, default=None, help="trained model folder of --compare")
    p.add_argument("--frames", default=None, help="frames to measure: 1-100, 1-10,20 (default: the first --max-frames)")
    p.add_argument("--max-frames", type=int, default=100, help="measure at most this many frames from the start")
    p.add_argument("--settings", type=Path, default=None, help="merge settings file (TOML/JSON) used for the swaps")
    p.add_argument("--working-space", default=None, help=WORKING_SPACE_HELP)
    p.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help="ONNX Runtime execution provider")
    add_model_face_type(p)
    p.add_argument("--recon-src", type=Path, default=None,
                   help="src faces for the reconstruction figures (default --src; use faces kept out of training)")
    p.add_argument("--recon-dst", type=Path, default=None,
                   help="dst faces for the reconstruction figures (default the dst aligned faceset)")
    p.add_argument("--recon-faces", type=int, default=32, help="faces per side for the reconstruction figures")
    p.add_argument("--src-faces", type=int, default=64, help="src faces embedded for the src identity")
    p.add_argument("--json", action="store_true", help="print report.json's summary figures as JSON on stdout")


def _summary(report: dict) -> dict:
    """The headline figures (no per-frame lists) of a report and its comparison."""
    def strip(section: dict) -> dict:
        return {k: v for k, v in section.items() if k != "per_frame"}

    out = {k: strip(report[k]) for k in ("identity", "pose", "reconstruction", "jitter")}
    out["model"] = {k: report["model"].get(k) for k in ("name", "kind", "iteration", "training_seconds")}
    if report.get("compare"):
        out["compare"] = _summary(report["compare"])
    return out


def run(args: argparse.Namespace) -> int:
    from engine.export.model_path import resolve_model_path
    from engine.quality.report import ReportRequest, make_report
    from engine.swap.settings import parse_frames

    compare = resolve_model_path(args.compare) if args.compare is not None else None
    req = ReportRequest(
        model=resolve_model_path(args.model), src=args.src, dst=args.dst, out=args.out, aligned=args.aligned,
        track=args.track, compare=compare, model_dir=args.model_dir, compare_dir=args.compare_dir,
        frames=parse_frames(args.frames, "--frames") if args.frames else None, max_frames=args.max_frames,
        settings=args.settings, working_space=args.working_space, provider=args.provider, face_type=args.face_type,
        recon_src=args.recon_src, recon_dst=args.recon_dst, recon_faces=args.recon_faces, src_faces=args.src_faces)
    report = make_report(req)
    if args.json:
        print(json.dumps(_summary(report), indent=1))
    else:
        i, p, r, j = report["identity"], report["pose"], report["reconstruction"], report["jitter"]
        print(f"identity swap->src {i['swap_to_src']} (original dst->src {i['dst_to_src']}), pose error "
              f"{p['error_deg']} deg, SSIM dst {r['ssim_dst']}, jitter {j['landmark_px']} px -> {args.out}")
    return 0
