"""`facecomp extract`: faces of a video / image sequence -> aligned faceset (DeepFaceLab's extractor)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from engine.cli.options import option_type
from engine.faces.facetype import CHOICES, face_type_option
from engine.media.plate_space import HELP as WORKING_SPACE_HELP

log = logging.getLogger("facecomp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("frames", help="video, image folder, sequence pattern (plate.%%04d.exr) or image")
    p.add_argument("out_dir", type=Path, help="faceset folder to write (<frame>_<i>.jpg)")
    p.add_argument("--face-type", default="whole_face", type=option_type(face_type_option()), metavar="TYPE",
                   help=f"DFL face type: {', '.join(CHOICES)} or DFL's short names h, mf, f, wf")
    p.add_argument("--image-size", type=int, default=512, help="side of the aligned faces in pixels (DFL: 512)")
    p.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality 1..100")
    p.add_argument("--max-faces", type=int, default=0, help="keep the N largest faces per frame (0 = all)")
    p.add_argument("--debug-dir", type=Path, default=None, help="also write frames with boxes/landmarks drawn")
    p.add_argument("--working-space", default=None, help=WORKING_SPACE_HELP)
    p.add_argument("--no-second-pass", dest="second_pass", action="store_false", default=argparse.SUPPRESS,
                   help="skip DFL's second landmark pass (re-crop from the first landmarks, crop and mirror "
                        "averaged); faster, less accurate and less stable")
    p.add_argument("--provider", default="auto", help="onnxruntime provider: auto, cpu, cuda, ...")
    p.add_argument("--manual", type=Path, default=None, metavar="FRAMES_JSON",
                   help="re-extract only the frames listed in this JSON from given boxes or landmarks "
                        "(format: docs/faces.md); their old faces are replaced, others kept")
    p.add_argument("--import-alignments", type=Path, default=None, metavar="JSON",
                   help="take the faces from a faceswap-style alignments file instead of detecting them")
    p.add_argument("--export-alignments", type=Path, default=None, metavar="JSON",
                   help="afterwards, write the faceset's boxes and landmarks as faceswap-style alignments JSON")
    p.add_argument("--overwrite", action="store_true", help="replace the faces already in OUT_DIR")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from engine.faces.extract_faceset import extract_faces

    report = extract_faces(args.frames, args.out_dir, face_type=args.face_type, image_size=args.image_size,
                           jpeg_quality=args.jpeg_quality, max_faces=args.max_faces, debug_dir=args.debug_dir,
                           providers=args.provider, working_space=args.working_space, overwrite=args.overwrite,
                           second_pass=getattr(args, "second_pass", True), manual=args.manual,
                           import_alignments=args.import_alignments, export_alignments=args.export_alignments)
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    print(f"{report.faces} faces from {report.frames} frames -> {report.out_dir} "
          f"({report.seconds:.1f} s, {report.fps:.1f} frames/s)")
    if report.no_face:
        shown = ", ".join(report.no_face[:10]) + (" ..." if len(report.no_face) > 10 else "")
        print(f"no face in {len(report.no_face)} frames: {shown}")
    if report.rejected:
        print(f"{report.rejected} faces rejected (aligned square over 4x the detector box, as DFL)")
    return 0
