"""`facecomp xseg`: label faces, train XSeg, apply masks, mattes in/out, ONNX export, the editor.

    facecomp xseg edit DIR                                   labelling / re-extraction window (PySide6)
    facecomp xseg import-mattes DIR --mattes 'roto/shot.%04d.exr' [--channel A] [--as mask|polys]
    facecomp xseg train --model XSEG --facesets A B [--target-iter N] [--auto] [--sample-pipeline P] [DFL options]
    facecomp xseg apply DIR --model XSEG|xseg.onnx           or  --generic
    facecomp xseg remove DIR [--labels]
    facecomp xseg fetch DIR [--out DIR_xseg] [--delete]
    facecomp xseg export-mattes DIR --out 'mattes/shot.%04d.exr' [--frames SPEC | --size WxH]
    facecomp xseg export --model XSEG --out xseg.onnx
"""

from __future__ import annotations

import argparse
import logging

from engine.cli.options import add_options, flag_values
from engine.training.settings import PIPELINES

log = logging.getLogger("facecomp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.training.xseg_trainer import XSEG_OPTIONS

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = sub.add_parser("edit", help="labelling window: polygons, mask overlay, manual re-extraction",
                       formatter_class=fmt)
    p.add_argument("faceset", help="aligned faceset folder")
    p.add_argument("--frames", help="source frames (folder/pattern/video) for manual re-extraction "
                                    "(default: the faceset's parent folder)")

    p = sub.add_parser("import-mattes", help="frame-space matte sequence -> face labels", formatter_class=fmt)
    p.add_argument("faceset")
    p.add_argument("--mattes", required=True, help="matte sequence: 'roto/shot.%%04d.exr', 'roto/####.png' or a folder")
    p.add_argument("--channel", help="matte channel (EXR name or R/G/B/A/Y); default alpha if present, else luminance")
    p.add_argument("--as", dest="as_", choices=("mask", "polys"), default="mask",
                   help="store as a label mask, or traced to include/exclude polygons (editable in `xseg edit`)")

    p = sub.add_parser("train", help="train the XSeg model (DFL's Model_XSeg)", formatter_class=fmt)
    p.add_argument("--model", required=True, help="XSeg model folder (created on the first run, resumed after)")
    p.add_argument("--facesets", nargs="+", required=True, help="aligned faceset folders (src and/or dst)")
    p.add_argument("--target-iter", type=int, default=0, help="stop at this iteration (0 = until Ctrl+C)")
    p.add_argument("--max-minutes", type=float, help="also stop after this many minutes")
    p.add_argument("--save-minutes", type=float, default=25.0, help="autosave interval")
    p.add_argument("--preview-every", type=int, default=100, help="write preview.png every N iterations (0 = at saves)")
    p.add_argument("--occluders", nargs="*", default=[],
                   help="--auto: images/folders/videos without faces, textures for the synthetic occluders")
    p.add_argument("--seed", type=int, help="random seed (reproducible runs)")
    p.add_argument("--device", help="torch device (auto: cuda if present, else cpu)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--sample-pipeline", choices=PIPELINES, default="auto",
                   help="where samples are augmented: on the training device (uint8 faces sent, DFL's XSeg chain "
                        "applied there) or on the host (OpenCV); auto: device on CUDA, host on CPU")
    p.add_argument("--config", help="TOML/JSON file of options")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="set an option (repeatable)")
    add_options(p, XSEG_OPTIONS, "XSeg options (DeepFaceLab names)")

    p = sub.add_parser("apply", help="write xseg_mask into every face (model or geometric)", formatter_class=fmt)
    p.add_argument("faceset")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="XSeg model folder or exported .onnx")
    g.add_argument("--generic", action="store_true", help="geometric mask from the landmarks (no model)")
    p.add_argument("--device", help="torch device for a model folder")
    p.add_argument("--bf16", action="store_true", help="bfloat16 inference (model folder)")

    p = sub.add_parser("remove", help="delete applied masks (or with --labels the polygons)", formatter_class=fmt)
    p.add_argument("faceset")
    p.add_argument("--labels", action="store_true", help="remove labels (polygons, imported mattes) instead")

    p = sub.add_parser("fetch", help="copy labelled faces to <faceset>_xseg", formatter_class=fmt)
    p.add_argument("faceset")
    p.add_argument("--out", help="destination (default <faceset>_xseg)")
    p.add_argument("--delete", action="store_true", help="move instead of copy")

    p = sub.add_parser("export-mattes", help="masks warped back to frame space, one matte per frame",
                       formatter_class=fmt)
    p.add_argument("faceset")
    p.add_argument("--out", required=True, help="numbered output: 'mattes/shot.%%04d.exr' or 'mattes/%%05d.png'")
    p.add_argument("--source", choices=("auto", "applied", "labels"), default="auto",
                   help="applied xseg_mask, labels, or auto (applied if present, else labels)")
    p.add_argument("--frames", help="source frames: gives the frame size and an (empty) matte for every frame")
    p.add_argument("--size", help="frame size WxH when the faces do not record it and --frames is not given")
    p.add_argument("--channel", default="A", help="EXR channel name")
    p.add_argument("--soft", action="store_true", help="keep soft edges instead of binarising at 0.5")

    p = sub.add_parser("export", help="XSeg model -> one ONNX file (in_face:0 -> out_mask:0)", formatter_class=fmt)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True, help="output .onnx")


def run(args: argparse.Namespace) -> int:
    return {"edit": _edit, "import-mattes": _import, "train": _train, "apply": _apply, "remove": _remove,
            "fetch": _fetch, "export-mattes": _export_mattes, "export": _export}[args.action](args)


def _edit(args: argparse.Namespace) -> int:
    from engine.xseg.editor import run_editor

    return run_editor(args.faceset, args.frames)


def _import(args: argparse.Namespace) -> int:
    from engine.xseg.mattes import import_mattes

    r = import_mattes(args.faceset, args.mattes, args.channel, as_polys=args.as_ == "polys")
    print(f"{r.written} of {r.faces} faces labelled from {args.mattes}"
          + (f" ({r.faces - r.written} without a matte)" if r.written < r.faces else ""))
    return 0


def _train(args: argparse.Namespace) -> int:
    import torch

    from engine.training.folder_lock import writer_lock
    from engine.training.xseg_trainer import XSEG_OPTIONS, plan_options, train_xseg

    if args.threads:
        torch.set_num_threads(args.threads)
    with writer_lock(args.model, "xseg train"):
        options = plan_options(args.model, flag_values(args, XSEG_OPTIONS), args.config, args.set)
        report = train_xseg(args.model, args.facesets, options, target_iter=args.target_iter,
                            max_seconds=args.max_minutes * 60 if args.max_minutes else None,
                            save_minutes=args.save_minutes, preview_every=args.preview_every, seed=args.seed,
                            device=args.device, occluder_sources=args.occluders, pipeline=args.sample_pipeline)
    print(f"XSeg {args.model}: iteration {report.iteration}, loss {report.loss:.4f}, {report.samples} training faces, "
          f"{report.seconds:.0f} s")
    return 0



def _apply(args: argparse.Namespace) -> int:
    from engine.xseg.faceset_ops import apply_masks

    r = apply_masks(args.faceset, model=args.model, generic=args.generic, device=args.device, bf16=args.bf16)
    print(f"xseg_mask written to {r.changed} faces ({'generic' if args.generic else args.model})")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from engine.xseg.faceset_ops import remove

    r = remove(args.faceset, labels=args.labels)
    print(f"{'labels' if args.labels else 'applied masks'} removed from {r.changed} of {r.faces} faces")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from engine.xseg.faceset_ops import fetch

    r = fetch(args.faceset, args.out, args.delete)
    print(f"{r.changed} labelled faces {'moved' if args.delete else 'copied'}; {r.skipped} unlabelled left")
    return 0


def _export_mattes(args: argparse.Namespace) -> int:
    from engine.xseg.mattes import export_mattes, parse_size

    size = parse_size(args.size) if args.size else None
    r = export_mattes(args.faceset, args.out, args.source, args.frames, size, args.channel, args.soft)
    print(f"{r.written} mattes written to {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from engine.xseg.export import export_onnx

    path = export_onnx(args.model, args.out)
    print(f"XSeg exported to {path}")
    return 0
