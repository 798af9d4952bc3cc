"""A test double of Foundry Nuke's ``nuke`` module, faithful to the documented API where the plugin uses it.

Signatures follow types-nuke 13.2 (``nuke-stubs/_nuke.pyi``, ``callbacks.pyi``, ``overrides.pyi``);
behaviour follows Foundry's Python developer guide: plugin path and init.py/menu.py start-up,
gizmos found on the plugin path by class name, knob callbacks with thisNode/thisKnob, render callbacks
around nuke.execute (an exception aborts the render), executeInMainThread. Pixels are real: Read and
Write go through OpenImageIO, so a Write's EXR can be checked.

Test-only helpers start with an underscore: ``_reset``, ``_startup``, ``_process_events``,
``_update_ui``, ``_set_format``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import _session
from ._graph import (
    REPLACE,
    allNodes,
    createNode,
    delete,
    filename,
    frame,
    knobDefault,
    nodePaste,
    nodes,
    root,
    scriptClear,
    scriptName,
    scriptOpen,
    scriptSave,
    scriptSaveAs,
    scriptSource,
    selectedNode,
    thisGroup,
    thisKnob,
    thisNode,
    toNode,
    value,
)
from ._knobs import (
    Array_Knob,
    Boolean_Knob,
    Channel_Knob,
    ChannelMask_Knob,
    ColorChip_Knob,
    Disable_Knob,
    Double_Knob,
    Enumeration_Knob,
    EvalString_Knob,
    File_Knob,
    Int_Knob,
    Knob,
    Multiline_Eval_String_Knob,
    PyScript_Knob,
    Script_Knob,
    String_Knob,
    Tab_Knob,
    Text_Knob,
)
from ._menus import Menu, MenuItem, menu, toolbar
from ._nodes import Format, Gizmo, Group, Layer, Node, Root, layers
from ._plugins import pluginAddPath, pluginAppendPath, pluginPath
from ._plugins import run_file as _run_file
from ._render import ProgressTask, execute, executeInMainThread, executeInMainThreadWithResult, executing
from ._session import st as _st

__all__ = [
    "Array_Knob", "Boolean_Knob", "Channel_Knob", "ChannelMask_Knob", "ColorChip_Knob", "Disable_Knob",
    "Double_Knob", "Enumeration_Knob", "EvalString_Knob", "File_Knob", "Int_Knob", "Knob",
    "Multiline_Eval_String_Knob", "PyScript_Knob", "Script_Knob", "String_Knob", "Tab_Knob", "Text_Knob",
    "Format", "Gizmo", "Group", "Layer", "Node", "Root", "layers",
    "REPLACE", "allNodes", "createNode", "delete", "filename", "frame", "knobDefault", "nodePaste", "nodes", "root",
    "scriptClear", "scriptName", "scriptOpen", "scriptSave", "scriptSaveAs", "scriptSource", "selectedNode",
    "thisGroup", "thisKnob", "thisNode", "toNode", "value",
    "Menu", "MenuItem", "menu", "toolbar", "pluginAddPath", "pluginAppendPath", "pluginPath",
    "ProgressTask", "execute", "executeInMainThread", "executeInMainThreadWithResult", "executing",
]

NUKE_VERSION_MAJOR, NUKE_VERSION_MINOR, NUKE_VERSION_RELEASE = 13, 2, 8
NUKE_VERSION_STRING = "13.2v8"
EXE_PATH = "/usr/local/Nuke13.2v8/Nuke13.2"
GUI = True
env: dict[str, Any] = {"gui": True, "ExecutablePath": EXE_PATH, "NukeVersionMajor": 13}


class CancelledError(Exception):
    pass


# ---------------------------------------------------------------- callbacks
_CALLBACK_NAMES = ("onCreate", "onUserCreate", "onDestroy", "onScriptLoad", "onScriptSave", "onScriptClose",
                   "knobChanged", "updateUI", "autolabel", "beforeRender", "beforeFrameRender",
                   "afterFrameRender", "afterRender")


# Default nodeClass of each add*/remove* pair, as in Nuke's own callbacks.py (Foundry; the public copies of it
# read for this: "def addBeforeFrameRender(call, args=(), kwargs={}, nodeClass='Write')"): render callbacks fire
# for Write nodes only unless told otherwise, script callbacks for Root, the rest for every class.
_DEFAULT_CLASS = {"onScriptLoad": "Root", "onScriptSave": "Root", "onScriptClose": "Root", "beforeRender": "Write",
                  "beforeFrameRender": "Write", "afterFrameRender": "Write", "afterRender": "Write"}


def _register(kind: str):
    default = _DEFAULT_CLASS.get(kind, "*")

    def add(call: Any, args: tuple = (), kwargs: dict | None = None, nodeClass: str = default) -> None:
        if not callable(call):
            raise ValueError("call must be a callable")  # Nuke's callbacks.py _addCallback
        _st().callbacks.setdefault(kind, []).append((call, tuple(args), dict(kwargs or {}), nodeClass))

    def remove(call: Any, args: tuple = (), kwargs: dict | None = None, nodeClass: str = default) -> None:
        _st().callbacks[kind] = [c for c in _st().callbacks.get(kind, []) if c[0] is not call or c[3] != nodeClass]

    return add, remove


for _kind in _CALLBACK_NAMES:
    _add, _remove = _register(_kind)
    globals()["add" + _kind[0].upper() + _kind[1:]] = _add
    globals()["remove" + _kind[0].upper() + _kind[1:]] = _remove


# ---------------------------------------------------------------- messages
def message(prompt: str) -> None:
    _st().messages.append(prompt)


def ask(prompt: str) -> bool:
    _st().messages.append(prompt)
    return False


def tprint(*args: Any, sep: str = " ", end: str = "\n", file: Any = None) -> None:
    print(*args, sep=sep, end=end, file=file or sys.stderr)


def warning(message: str) -> None:
    _st().messages.append("warning: " + message)


error = critical = debug = warning


# ---------------------------------------------------------------- test helpers
def _reset(gui: bool = True) -> None:
    """A fresh session: empty script, no plugin path, no callbacks, GUI or not."""
    global GUI
    _session.state = _session.State(gui)
    _st().root = Root()
    GUI = gui
    env["gui"] = gui
    _st().py_globals["nuke"] = sys.modules[__name__]


def _startup(plugin_dirs: list[str]) -> None:
    """Nuke's start-up: plugin path = ~/.nuke + NUKE_PATH + install dir; run every init.py (install dir
    first, ~/.nuke last), then every menu.py in GUI sessions."""
    for d in plugin_dirs:
        pluginAppendPath(d)
    for d in reversed(list(plugin_dirs)):
        if os.path.isfile(os.path.join(d, "init.py")):
            _run_file(os.path.join(d, "init.py"))
    if _st().gui:
        for d in reversed(list(plugin_dirs)):
            if os.path.isfile(os.path.join(d, "menu.py")):
                _run_file(os.path.join(d, "menu.py"))


def _process_events() -> int:
    """Run the calls queued with executeInMainThread (what Nuke's event loop does)."""
    n = 0
    while True:
        with _st().main_lock:
            if not _st().main_queue:
                return n
            call, args, kwargs = _st().main_queue.pop(0)
        call(*args, **kwargs)
        n += 1


def _update_ui() -> None:
    """Fire updateUI callbacks for every node (Nuke does this for open panels as time changes)."""
    _st().ui_callback += 1
    try:
        for node in allNodes(recurseGroups=True):
            node._run_python(node["updateUI"].value(), node["updateUI"])
            _session.run_callbacks("updateUI", node)
    finally:
        _st().ui_callback -= 1


def _set_format(width: int, height: int) -> None:
    _st().format = (width, height)
    _st().root["format"]._value = f"{width} {height} 0 0 {width} {height} 1 test"


_reset()
