"""`facecomp merge`: swap the faces of a shot's frames with an exported model (DeepFaceLab's merger).

Writes merged frames and masks as DFL (data_dst/merged, data_dst/merged_mask), optional EXR passes and patches,
resumes where a killed run stopped, and `--preview FRAME` renders one frame for tuning the settings.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from engine.cli.options import add_options, option_type
from engine.errors import FacecompError
from engine.faces.facetype import face_type_option
from engine.swap.merge_frames import MergeJob, Merger, preview
from engine.swap.onnx_model import PROVIDER_CHOICES
from engine.swap.outputs import ORIGINS
from engine.swap.settings import MERGE_OPTIONS, FrameSettings

log = logging.getLogger("facecomp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=None,
                   help="exported model (.onnx/.dfm); default: the one .onnx in workspace/model")
    p.add_argument("--frames", type=Path, default=Path("workspace/data_dst"),
                   help="destination frames (folder, pattern or video)")
    p.add_argument("--aligned", type=Path, default=None, help="aligned faceset of the frames (default FRAMES/aligned)")
    p.add_argument("--track", type=Path, default=None, help="smoothed alignment track (facecomp track); "
                   "its landmarks replace the faceset's")
    p.add_argument("--out", type=Path, default=None, help="merged frames folder (default FRAMES/merged)")
    p.add_argument("--mask-out", type=Path, default=None, help="mask folder (default OUT_mask, e.g. merged_mask)")
    p.add_argument("--no-mask", action="store_true", help="do not write masks")
    p.add_argument("--passes-out", type=Path, default=None, help="also write EXR passes and patches here")
    p.add_argument("--settings", type=Path, default=None, help="settings file (TOML/JSON, overrides by frame range)")
    p.add_argument("--save-settings", type=Path, default=None, help="write the effective settings to this file")
    p.add_argument("--preview", type=int, default=None, metavar="FRAME",
                   help="merge only this frame; write merged, mask and side-by-side PNGs to --preview-out")
    p.add_argument("--preview-out", type=Path, default=None, help="preview folder (default OUT_preview)")
    p.add_argument("--xseg-model", type=Path, default=None, help="exported XSeg .onnx for the XSeg mask modes")
    p.add_argument("--working-space", default=None, help="colour space of float (EXR) frames (default ACEScg)")
    p.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help="ONNX Runtime execution provider")
    p.add_argument("--face-type", default=None, type=option_type(face_type_option()), metavar="TYPE",
                   help="face type for a .dfm without metadata (default whole_face; DFL's wf, f, head ... too)")
    p.add_argument("--face-select", default="all", help="faces per frame: all, largest or N (0 = largest)")
    p.add_argument("--origin", choices=ORIGINS, default="bottom-left", help="canvas origin of the patch matrices")
    p.add_argument("--workers", type=int, default=0, help="frames merged in parallel (default: CPU cores, max 4)")
    p.add_argument("--restart", action="store_true", help="merge every frame again (ignore the session)")
    add_options(p, MERGE_OPTIONS, "merge options (DeepFaceLab's; flags override the settings file)")


def _default_model() -> Path:
    folder = Path("workspace/model")
    found = sorted([*folder.glob("*.onnx"), *folder.glob("*.dfm")]) if folder.is_dir() else []
    if len(found) != 1:
        raise FacecompError("give --model (no single exported .onnx in workspace/model)")
    return found[0]


def job_from_args(args: argparse.Namespace) -> MergeJob:
    """A MergeJob from parsed arguments, with the workspace defaults filled in."""
    frames = args.frames
    aligned = args.aligned
    if aligned is None and args.track is None and (frames / "aligned").is_dir():
        aligned = frames / "aligned"
    out = args.out or (frames if frames.is_dir() else frames.parent) / "merged"
    mask_out = None if args.no_mask else (args.mask_out or out.with_name(out.name + "_mask"))
    flags = {o.name: getattr(args, o.name, None) for o in MERGE_OPTIONS}
    settings = FrameSettings.load(args.settings, flags)
    face_select: str | int = args.face_select
    if isinstance(face_select, str) and face_select.isdigit():
        face_select = int(face_select)
    return MergeJob(model=args.model or _default_model(), frames=frames, out=out, aligned=aligned, track=args.track,
                    mask_out=mask_out, passes_out=args.passes_out, settings=settings,
                    working_space=args.working_space, provider=args.provider, face_type=args.face_type,
                    xseg_model=args.xseg_model, face_select=face_select, workers=args.workers, restart=args.restart,
                    origin=args.origin)


def run(args: argparse.Namespace) -> int:
    job = job_from_args(args)
    if args.save_settings:
        job.settings.save(args.save_settings)
        log.info("settings -> %s", args.save_settings)
    if args.preview is not None:
        folder = args.preview_out or job.out.with_name(job.out.name + "_preview")
        for path in preview(job, args.preview, folder):
            print(path)
        return 0
    report = Merger(job).run()
    ms = 1000.0 * report.seconds / max(report.merged, 1)
    on = ", ".join(p.replace("ExecutionProvider", "") for p in report.providers)
    timing = f", {ms:.0f} ms/frame on {on}" if report.merged else ""
    print(f"{report.merged} frames merged ({report.faces} faces), {report.skipped} already done{timing} -> {job.out}")
    return 0
