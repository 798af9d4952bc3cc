"""The `facecomp` command: one verb per pipeline step, each in its own module, imported only when used.

Every verb module defines ``add_arguments(parser)`` and ``run(args) -> int | None``. Errors the user can fix
arrive as :class:`engine.errors.FacecompError` and are printed as one line (no traceback unless ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys
import warnings

from engine import __version__
from engine.cli.options import HelpFormatter
from engine.errors import FacecompError

# verb -> (module, one-line summary); a verb is listed only once it works.
VERBS: dict[str, tuple[str, str]] = {
    "frames": ("engine.cli.frames", "video or image sequence -> numbered frames (PNG/JPEG/EXR)"),
    "extract": ("engine.cli.extract", "frames -> aligned faceset (detect, 68 landmarks, align; DFL's extractor)"),
    "faceset": ("engine.cli.faceset", "faceset files: info, resize, report, pack/unpack (DFL faceset.pak too), "
                "restore-names, debug-landmarks"),
    "sort": ("engine.cli.sort", "sort / clean a faceset (DFL's 15 sort methods, identity)"),
    "xseg": ("engine.cli.xseg", "XSeg masks: edit, import-mattes, train, apply, remove, fetch, export-mattes, export"),
    "train": ("engine.cli.train", "train a SAEHD / AMP / Quick96 swap model on src and dst facesets (DFL's trainer)"),
    "model": ("engine.cli.model", "model info: DFL's summary box of a training folder or an exported model"),
    "export": (
        "engine.cli.export",
        "trained model folder -> one ONNX file (.onnx/.dfm) in DeepFaceLab's DFM signature",
    ),
    "track": ("engine.cli.track", "smoothed alignment track of a shot (JSON sidecar for merge/render/hosts)"),
    "merge": ("engine.cli.merge", "swap the faces of frames with an exported model (DFL merger, EXR passes)"),
    "video": ("engine.cli.video", "frames -> result.mp4 / result_mask.mp4 (fps and audio from a reference)"),
    "render": ("engine.cli.render", "stateless frame-range render to EXR passes (what the hosts call)"),
    "passes": ("engine.cli.passes", "pass EXRs: info (layers, faces and their names, Cryptomattes)"),
    "worker": (
        "engine.cli.worker",
        "long-lived render process for the Nuke/Resolve plugins (JSON lines on stdin/stdout)",
    ),
    "report": ("engine.cli.report", "quality figures of a model on a shot: identity, pose, reconstruction, jitter"),
    "doctor": ("engine.cli.doctor", "check this machine: versions, ONNX Runtime providers, the hosts' facecomp, a "
               "test render"),
    "demo": ("engine.cli.demo", "run the whole pipeline on the shared demo media (../shared/data)"),
    "import-dfl": ("engine.cli.import_dfl", "DeepFaceLab facesets and models (SAEHD, AMP, Quick96, XSeg) -> facecomp"),
}

log = logging.getLogger("facecomp")


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
    if not debug:
        warnings.filterwarnings("ignore")


def _top_help() -> str:
    width = max(len(v) for v in VERBS)
    lines = [
        f"usage: facecomp [--debug] [--version] VERB [options]   (facecomp {__version__})",
        "",
        "DeepFaceLab's face-replacement pipeline for compositors. Verbs:",
        *(f"  {name.ljust(width)}  {summary}" for name, (_, summary) in VERBS.items()),
        "",
        "facecomp VERB --help shows a verb's options and defaults. --debug shows tracebacks.",
    ]
    return "\n".join(lines)


def build_parser(verb: str, argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of one verb (its module is imported here); a module whose ``add_arguments`` takes
    ``argv`` too gets the command line (help that depends on it, e.g. ``train --kind amp --help``)."""
    module_name, summary = VERBS[verb]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"facecomp {verb}", description=summary, formatter_class=HelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug messages")
    if len(inspect.signature(module.add_arguments).parameters) > 1:
        module.add_arguments(parser, argv)
    else:
        module.add_arguments(parser)
    parser.set_defaults(_run=module.run)
    return parser


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FacecompError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _closed_pipe() -> int:
    """The reader of stdout went away (``facecomp ... | head``): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the final flush at exit must not raise again
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end] or os.environ.get("FACECOMP_DEBUG") == "1"
    argv = [a for a in argv[:end] if a != "--debug"] + argv[end:]  # accepted anywhere, also after a sub-action
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_top_help())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"facecomp {__version__}")
        return 0
    verb = argv[0]
    if verb not in VERBS:
        print(f"facecomp: unknown verb {verb!r}; known: {', '.join(VERBS)}", file=sys.stderr)
        return 2
    _setup_logging(debug)
    try:
        args = build_parser(verb, argv[1:]).parse_args(argv[1:])
        code = args._run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return int(code or 0)
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        print(f"facecomp {verb}: interrupted", file=sys.stderr)
        return 130
    except (FacecompError, OSError, ValueError, RuntimeError, MemoryError) as exc:
        if debug:
            raise
        print(f"facecomp {verb}: error: {_describe(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, never a traceback
        if debug:
            raise
        print(f"facecomp {verb}: internal error: {_describe(exc)} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
