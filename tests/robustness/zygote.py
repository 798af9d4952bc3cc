"""A pre-imported process that forks `facecomp` runs on request, so kill tests need not pay start-up per run.

The tests start ``python tests/robustness/zygote.py`` once; it imports torch and the engine (running nothing, so
no thread pool exists yet) and then answers JSON lines on stdin:

    {"run": [argv...], "fsize": bytes | null}  -> {"pid": N}      fork a child that runs engine.cli.main(argv)
                                                                   (fsize: RLIMIT_FSIZE with SIGXFSZ ignored,
                                                                   so writes past it fail as on a full disk)
    {"wait": N}                                -> {"code": C}     reap child N (-signal when killed)
    {"quit": true}                             -> exits

The child is a real facecomp process (same code path as the console script); the test kills it by pid.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys


def _child(argv: list[str], fsize: int | None) -> None:
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    log = os.environ.get("ZYGOTE_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    else:
        os.dup2(devnull, 1)
    if fsize is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    from engine.cli import main

    code = 1
    try:
        code = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    import torch  # noqa: F401

    import engine.cli  # noqa: F401 - warm imports, before any fork
    import engine.faces.faceset  # noqa: F401
    import engine.models  # noqa: F401
    import engine.swap.render  # noqa: F401
    import engine.training.trainer  # noqa: F401

    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        if "run" in req:
            pid = os.fork()
            if pid == 0:
                _child([str(a) for a in req["run"]], req.get("fsize"))
            print(json.dumps({"pid": pid}), file=out, flush=True)
        elif "wait" in req:
            _, status = os.waitpid(int(req["wait"]), 0)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            print(json.dumps({"code": code}), file=out, flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    os.environ.setdefault("FACECOMP_NO_PROGRESS", "1")
    serve()
