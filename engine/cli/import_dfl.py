"""`facecomp import-dfl faceset|model`: bring DeepFaceLab facesets and trained models over.

    facecomp import-dfl faceset ~/DeepFaceLab/workspace/data_src/aligned workspace/data_src/aligned
    facecomp import-dfl model ~/DeepFaceLab/workspace/model --name new_SAEHD workspace/model

DFL's pickled files are read with a restricted reader that never runs code. .dfm files need no import:
`merge`, `render` and the host nodes load them directly.
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger("facecomp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="faceset|model")
    fs = sub.add_parser("faceset", help="DFL aligned faces (DFLJPG) -> facecomp faceset files",
                        description="Convert a DeepFaceLab aligned folder: every DFLJPG field, XSeg polygons and "
                                    "applied XSeg masks. Originals are never modified.")
    fs.add_argument("src", help="DeepFaceLab aligned folder (e.g. workspace/data_src/aligned)")
    fs.add_argument("dst", help="facecomp faceset folder to write (same file names)")
    fs.add_argument("--force", action="store_true", help="replace faces (and their labels) already in DST")
    fs.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    md = sub.add_parser("model", help="DFL model folder (SAEHD, AMP, Quick96, XSeg) -> facecomp model folder",
                        description="Convert a DeepFaceLab model: weights, options, iteration count, loss history "
                                    "and optimizer state when present.")
    md.add_argument("src", help="DeepFaceLab model folder (e.g. workspace/model)")
    md.add_argument("dst", help="facecomp model folder to write (e.g. workspace/model)")
    md.add_argument("--name", help="which model: <name>_<Class> as in its files, e.g. new_SAEHD or XSeg "
                                   "(default: the only *_data.dat in the folder)")
    md.add_argument("--force", action="store_true", help="replace an existing facecomp model in DST")
    md.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    for p in (fs, md):
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _faceset(args: argparse.Namespace) -> int:
    from engine.dfl.faceset_import import import_faceset

    report = import_faceset(args.src, args.dst, force=args.force)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    log.info("imported %d DeepFaceLab faces into %s (%d with XSeg polygons, %d with XSeg masks); %d skipped",
             len(report.imported), report.dst, report.with_polys, report.with_mask, len(report.skipped))
    for s in report.skipped:
        log.info("  skipped %s: %s", s["file"], s["reason"])
    return 0 if report.imported or not report.skipped else 1


def _model(args: argparse.Namespace) -> int:
    from engine.dfl.model_import import import_model

    report = import_model(args.src, args.dst, name=args.name, force=args.force)
    if args.json:
        print(json.dumps(report, indent=2))
    log.info("imported DeepFaceLab %s model %r (%s, iteration %d) into %s", report["dfl_class"], report["name"],
             report["kind"], report["iteration"], report["dst"])
    for note in report.get("notes", []):
        log.info("  note: %s", note)
    return 0


def run(args: argparse.Namespace) -> int:
    return _faceset(args) if args.what == "faceset" else _model(args)
