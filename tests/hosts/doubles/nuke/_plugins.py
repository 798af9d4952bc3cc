"""The plugin path of the nuke double: pluginAddPath runs the folder's init.py, as Nuke does."""

from __future__ import annotations

import os
import sys

from ._session import st as _st


def pluginAddPath(args: str | list[str], addToSysPath: bool = True) -> None:
    for path in ([args] if isinstance(args, str) else list(args))[::-1]:
        if path in _st().plugin_path:
            continue
        _st().plugin_path.insert(0, path)
        if addToSysPath and path not in sys.path:
            sys.path.insert(0, path)
        init = os.path.join(path, "init.py")
        if os.path.isfile(init):
            run_file(init)


def pluginAppendPath(args: str | list[str], addToSysPath: bool = True) -> None:
    for path in [args] if isinstance(args, str) else list(args):
        if path not in _st().plugin_path:
            _st().plugin_path.append(path)
            if addToSysPath and path not in sys.path:
                sys.path.append(path)


def pluginPath() -> list[str]:
    return list(_st().plugin_path)


def run_file(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, dict(_st().py_globals))  # Nuke runs init.py/menu.py without setting __file__
