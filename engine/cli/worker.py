"""`facecomp worker`: long-lived render process for the Nuke/Resolve plugins (JSON lines on stdin/stdout).

The protocol is described in docs/hosts.md and engine/worker/protocol.py. Nothing but protocol lines
is written to stdout; logs go to stderr. No network port is opened.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

from engine.worker.server import claim_stdout, serve


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model to load at start (.onnx/.dfm); a 'load' request can change it")
    p.add_argument("--provider", default=None,
                   help="execution provider for --model: auto, cpu, cuda, tensorrt, directml, coreml (default auto)")
    p.add_argument("--idle-timeout", type=float, default=0.0,
                   help="stop after this many seconds without a request (0 = never; end of input always stops it)")


def run(args: argparse.Namespace) -> int:
    out = claim_stdout()
    inp = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    code = serve(inp, out, model=args.model, provider=args.provider, idle_timeout=args.idle_timeout)
    # The reader thread may still block on stdin; a dedicated process ends here without waiting for it.
    for stream in (out, sys.stderr):
        stream.flush()
    os._exit(code)
