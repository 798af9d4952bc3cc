"""`facecomp merge`: swap the faces of a shot's frames with an exported model (DeepFaceLab's merger).

Writes merged frames and masks as DFL (data_dst/merged, data_dst/merged_mask), optional EXR passes and patches,
resumes where a killed run stopped; `--preview FRAMES` renders one frame or a contact sheet of several, and
`--wedge OPTION=V1,V2 ...` a grid of settings side by side (engine/swap/contact_sheet.py), for tuning.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from engine.cli.options import add_face_selection, add_model_face_type, add_options, add_pass_files
from engine.errors import FacecompError
from engine.export.model_path import resolve_model_path
from engine.media.plate_space import HELP as WORKING_SPACE_HELP
from engine.swap.contact_sheet import parse_wedge, preview_sheet, wedge_sheet
from engine.swap.merge_frames import MergeJob, Merger, preview
from engine.swap.onnx_model import PROVIDER_CHOICES
from engine.swap.outputs import ORIGINS, parse_passes
from engine.swap.render import parse_faces
from engine.swap.settings import MERGE_OPTIONS, FrameSettings, parse_frames

log = logging.getLogger("facecomp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=None,
                   help="exported model (.onnx/.dfm) or a model folder holding one; default workspace/model")
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
    p.add_argument("--preview", default=None, metavar="FRAMES",
                   help="merge only these frames (5, 10,120,200 or 10-20): one frame writes merged, mask and "
                   "side-by-side PNGs to --preview-out, several frames one contact sheet (contact_sheet.png)")
    p.add_argument("--wedge", nargs="+", default=None, metavar="OPTION=V1,V2",
                   help="a grid of settings side by side on the --preview frames (default: the middle frame), "
                   "e.g. --wedge erode=0,20,40 blur=10,40 (wedge.png in --preview-out)")
    p.add_argument("--preview-out", type=Path, default=None, help="preview folder (default OUT_preview)")
    p.add_argument("--xseg-model", type=Path, default=None,
                   help="XSeg model for the XSeg mask modes: an exported XSeg .onnx or an XSeg model folder")
    p.add_argument("--working-space", default=None, help=WORKING_SPACE_HELP)
    p.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto", help="ONNX Runtime execution provider")
    add_model_face_type(p)
    add_face_selection(p)
    add_pass_files(p, "EXR passes for --passes-out")
    p.add_argument("--origin", choices=ORIGINS, default="bottom-left", help="canvas origin of the patch matrices")
    p.add_argument("--workers", type=int, default=0, help="frames merged in parallel (default: CPU cores, max 4)")
    p.add_argument("--restart", action="store_true", help="merge every frame again (ignore the session)")
    add_options(p, MERGE_OPTIONS, "merge options (DeepFaceLab's; flags override the settings file)")


def _default_model() -> Path:
    folder = Path("workspace/model")
    if not folder.is_dir():
        raise FacecompError("give --model (no workspace/model folder here)")
    return resolve_model_path(folder)


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
    face_select = parse_faces(args.faces)
    return MergeJob(model=args.model or _default_model(), frames=frames, out=out, aligned=aligned, track=args.track,
                    mask_out=mask_out, passes_out=args.passes_out, passes=parse_passes(args.passes), settings=settings,
                    exr_layout=args.exr_layout,
                    working_space=args.working_space, provider=args.provider, face_type=args.face_type,
                    xseg_model=args.xseg_model, face_select=face_select, workers=args.workers, restart=args.restart,
                    origin=args.origin)


def run(args: argparse.Namespace) -> int:
    job = job_from_args(args)
    if args.save_settings:
        job.settings.save(args.save_settings)
        log.info("settings -> %s", args.save_settings)
    if args.preview is not None or args.wedge:
        folder = args.preview_out or job.out.with_name(job.out.name + "_preview")
        numbers = parse_frames(args.preview, "--preview") if args.preview is not None else None
        if args.wedge:
            print(wedge_sheet(job, numbers, parse_wedge(args.wedge), folder / "wedge.png"))
        elif numbers is not None and len(numbers) > 1:
            print(preview_sheet(job, numbers, folder / "contact_sheet.png"))
        else:
            for path in preview(job, numbers[0] if numbers else 0, folder):
                print(path)
        return 0
    report = Merger(job).run()
    ms = 1000.0 * report.seconds / max(report.merged, 1)
    on = ", ".join(p.replace("ExecutionProvider", "") for p in report.providers)
    timing = f", {ms:.0f} ms/frame on {on}" if report.merged else ""
    print(f"{report.merged} frames merged ({report.faces} faces), {report.skipped} already done{timing} -> {job.out}")
    return 0
