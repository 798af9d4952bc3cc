"""``nuke -x [-X Write1,Write2] -F 1001-1010 script.nk`` with the nuke double: a farm render in a fresh process.

Like Nuke: the plugin path is ~/.nuke (skipped here) + $NUKE_PATH; every init.py runs (no menu.py: no GUI);
the script is opened; the Write nodes (all, or those given with -X) are executed in render order for the
frame range. Errors are printed on one line and give exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nuke  # noqa: E402  (the double beside this file)


def run_python(argv: list[str]) -> int:
    """``nuke -t script.py args``: a session without GUI (init.py runs, no menu.py) running a Python file with
    ``sys.argv = [script.py, args...]`` (Foundry: command-line operations, -t = terminal mode)."""
    nuke._reset(gui=False)
    nuke._startup([d for d in os.environ.get("NUKE_PATH", "").split(os.pathsep) if d])
    sys.argv = list(argv)
    with open(argv[0], encoding="utf-8") as f:
        code = compile(f.read(), argv[0], "exec")
    try:
        exec(code, {"__name__": "__main__", "__file__": argv[0]})
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["-t"]:
        return run_python(argv[1:])
    p = argparse.ArgumentParser(prog="nuke")
    p.add_argument("-x", action="store_true", required=True)
    p.add_argument("-X", dest="writes", default=None)
    p.add_argument("-F", dest="frames", required=True)
    p.add_argument("script")
    args = p.parse_args(argv)
    first, _, last = args.frames.partition("-")
    nuke._reset(gui=False)
    nuke._startup([d for d in os.environ.get("NUKE_PATH", "").split(os.pathsep) if d])
    nuke.scriptOpen(args.script)
    writes = [nuke.toNode(n) for n in args.writes.split(",")] if args.writes else nuke.allNodes("Write")
    writes.sort(key=lambda w: int(w["render_order"].value()))
    try:
        for write in writes:
            nuke.execute(write, int(first), int(last or first))
    except RuntimeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
