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

from . import _build, _pixels, _session
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
from ._nodes import Format, Gizmo, Group, Layer, Node, Root, layers
from ._session import st as _st

__all__ = [
    "Array_Knob", "Boolean_Knob", "Channel_Knob", "ChannelMask_Knob", "ColorChip_Knob", "Disable_Knob",
    "Double_Knob", "Enumeration_Knob", "EvalString_Knob", "File_Knob", "Int_Knob", "Knob",
    "Multiline_Eval_String_Knob", "PyScript_Knob", "Script_Knob", "String_Knob", "Tab_Knob", "Text_Knob",
    "Format", "Gizmo", "Group", "Layer", "Node", "Root", "layers",
]

NUKE_VERSION_MAJOR, NUKE_VERSION_MINOR, NUKE_VERSION_RELEASE = 13, 2, 8
NUKE_VERSION_STRING = "13.2v8"
EXE_PATH = "/usr/local/Nuke13.2v8/Nuke13.2"
GUI = True
env: dict[str, Any] = {"gui": True, "ExecutablePath": EXE_PATH, "NukeVersionMajor": 13}


class CancelledError(Exception):
    pass


def createNode(typ: str, knobs: str = "", inpanel: bool = True) -> Node:
    group = _build.current_group()
    selected = [n for n in group.nodes() if n.isSelected()]
    node = _build.make(typ, group)
    if knobs:
        node._loading = True
        node.readKnobs(knobs)
        node._loading = False
    if selected and node.maxInputs():
        node.setInput(0, selected[-1])
    _build.created(node, user=True)
    return node


class _NodeConstructors:
    def __getattr__(self, cls: str) -> Any:
        def construct(**knobs: Any) -> Node:
            node = _build.make(cls, _build.current_group())
            node._loading = True
            for name, value in knobs.items():
                if name == "inputs":
                    continue
                node[name].setValue(value)
            node._loading = False
            _build.created(node, user=False)
            return node

        return construct


nodes = _NodeConstructors()


def toNode(s: str) -> Node | None:
    if s in ("root", "Root"):
        return _st().root
    return _st().root.node(s)


def allNodes(filter: str | None = None, group: Group | None = None, recurseGroups: bool = False) -> list[Node]:
    out: list[Node] = []
    for n in (group or _build.current_group()).nodes():
        if filter is None or n.Class() == filter:
            out.append(n)
        if recurseGroups and isinstance(n, Group):
            out.extend(allNodes(filter, n, True))
    return out


def selectedNode() -> Node:
    sel = _build.current_group().selectedNodes()
    if not sel:
        raise ValueError("no node selected")
    return sel[-1]


def delete(n: Node | None) -> None:
    if n is not None and n._parent is not None:
        n._parent._children.remove(n)


def root() -> Root:
    return _st().root


def thisNode() -> Node:
    return _st().context[-1][0] if _st().context else _build.current_group()


def thisKnob() -> Knob | None:
    return _st().context[-1][1] if _st().context else None


def thisGroup() -> Group:
    return _build.current_group()


def frame(f: int | None = None) -> int:
    if f is not None:
        _st().frame = int(f)
    return _st().frame

def scriptSaveAs(filename: str | None = None, overwrite: int = -1) -> None:
    _st().root["name"]._value = filename
    with open(filename, "w", encoding="utf-8") as f:
        f.write(_build.script_text())


def scriptSave(filename: str | None = None) -> bool:
    scriptSaveAs(filename or _st().root["name"].value())
    return True


def scriptName() -> str:
    name = _st().root["name"].value()
    if not name:
        raise RuntimeError("no script name")
    return name


def scriptClear() -> None:
    _st().root = Root()


def scriptOpen(filename: str) -> None:
    scriptClear()
    scriptSource(filename)
    _st().root["name"]._value = filename


def scriptSource(filename: str) -> None:
    with open(filename, encoding="utf-8") as f:
        created = _build.load_text(f.read(), _st().root)
    for node in created:
        _build.created(node, user=False)


def nodePaste(s: str) -> Node | None:
    with open(s, encoding="utf-8") as f:
        created = _build.load_text(f.read(), _build.current_group())
    for node in created:
        _build.created(node, user=False)
    return created[-1] if created else None


# ---------------------------------------------------------------- plugin path, callbacks, menus
def pluginAddPath(args: str | list[str], addToSysPath: bool = True) -> None:
    for path in ([args] if isinstance(args, str) else list(args))[::-1]:
        if path in _st().plugin_path:
            continue
        _st().plugin_path.insert(0, path)
        if addToSysPath and path not in sys.path:
            sys.path.insert(0, path)
        init = os.path.join(path, "init.py")
        if os.path.isfile(init):
            _run_file(init)


def pluginAppendPath(args: str | list[str], addToSysPath: bool = True) -> None:
    for path in [args] if isinstance(args, str) else list(args):
        if path not in _st().plugin_path:
            _st().plugin_path.append(path)
            if addToSysPath and path not in sys.path:
                sys.path.append(path)


def pluginPath() -> list[str]:
    return list(_st().plugin_path)


def _run_file(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, dict(_st().py_globals))  # Nuke runs init.py/menu.py without setting __file__


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


class MenuItem:
    def __init__(self, name: str, command: Any = None, shortcut: str = "", icon: str = ""):
        self._name, self._command, self._shortcut, self._icon = name, command, shortcut, icon

    def name(self) -> str:
        return self._name

    def script(self) -> Any:
        return self._command

    def shortcut(self) -> str:
        return self._shortcut

    def icon(self) -> str:
        return self._icon

    def invoke(self) -> Any:
        if callable(self._command):
            return self._command()
        exec(compile(self._command, f"<menu {self._name}>", "exec"), _st().py_globals)
        return None


class Menu(MenuItem):
    def __init__(self, name: str, icon: str = ""):
        super().__init__(name, icon=icon)
        self._items: list[MenuItem] = []

    def addMenu(self, name: str, icon: str = "", tooltip: str = "", index: int = -1) -> Menu:
        found = self.findItem(name)
        if isinstance(found, Menu):
            return found
        m = Menu(name, icon)
        self._items.append(m)
        return m

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", icon: str = "", tooltip: str = "",
                   index: int = -1, readonly: bool = False, shortcutContext: int = 0) -> MenuItem:
        head, _, rest = name.partition("/")
        if rest:
            return self.addMenu(head).addCommand(rest, command, shortcut, icon)
        item = MenuItem(name, command, shortcut, icon)
        self._items.append(item)
        return item

    def addSeparator(self, **kwargs: Any) -> None:
        pass

    def findItem(self, name: str) -> MenuItem | None:
        head, _, rest = name.partition("/")
        item = next((i for i in self._items if i.name() == head), None)
        if rest:
            return item.findItem(rest) if isinstance(item, Menu) else None
        return item

    def items(self) -> list[MenuItem]:
        return list(self._items)

    def menu(self, name: str) -> Menu | None:
        item = self.findItem(name)
        return item if isinstance(item, Menu) else None


_ToolBar = Menu  # nuke.ToolBar lacks MenuItem's calls (types-nuke); the double's Nodes menu is a Menu
_MENU_NAMES = ("Nuke", "Pane", "Nodes", "Viewer", "Node Graph", "Properties", "Animation")


def menu(name: str) -> Menu | None:
    if name not in _MENU_NAMES:
        return None
    return _st().menus.setdefault(name, Menu(name))


def toolbar(name: str, create: bool = True) -> Menu | None:
    if name == "Nodes":
        return menu("Nodes")
    if name not in _st().menus and not create:
        return None
    return _st().menus.setdefault(name, Menu(name))


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


def filename(node: Node, i: int | None = None) -> str | None:
    """The node's file name with Tcl evaluated; ``i`` = REPLACE (1) also fills in the current frame."""
    knob = node.knob("file")
    if knob is None:
        return None
    return knob.getEvaluatedValue() if i == REPLACE else node._eval_tcl(knob.value())


REPLACE = 1


def knobDefault(classknob: str, value: str | None = None) -> str | None:
    return None


def value(knob: str, default: str | None = None) -> str:
    node_name, _, knob_name = knob.rpartition(".")
    node = toNode(node_name) if node_name else thisNode()
    return str(node[knob_name].value()) if node is not None else (default or "")


# ---------------------------------------------------------------- threads and progress
class ProgressTask:
    def __init__(self, message: str = ""):
        self.message, self.progress, self.sub_messages = message, 0, []
        _st().tasks.append(self)

    def setProgress(self, i: int) -> None:
        self.progress = int(i)

    def setMessage(self, s: str) -> None:
        self.sub_messages.append(s)

    def isCancelled(self) -> bool:
        return _st().cancel_tasks


def executeInMainThread(call: Any, args: tuple = (), kwargs: dict | None = None) -> None:
    with _st().main_lock:
        _st().main_queue.append((call, tuple(args) if isinstance(args, (tuple, list)) else (args,), kwargs or {}))


def executeInMainThreadWithResult(call: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
    return call(*(tuple(args) if isinstance(args, (tuple, list)) else (args,)), **(kwargs or {}))


# ---------------------------------------------------------------- rendering
def execute(nameOrNode: Node | str, start: int, end: int | None = None, incr: int = 1, views: Any = None,
            continueOnError: bool = False) -> None:
    """Render a Write for frames start..end: beforeRender, per frame (beforeFrameRender, write the EXR,
    afterFrameRender), afterRender. An exception in a callback aborts the render (RuntimeError).

    Refused while another execute runs or from a UI callback (updateUI/knobChanged): Nuke answers "I'm already
    executing something else" there (reports from public tools; the design avoids it, the double enforces it).
    A cancelled progress bar makes it raise RuntimeError("Cancelled") (Foundry's nuke.execute docs: it raises
    when cancelled); tests set ``_st().cancel_execute``.
    """
    node = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if node is None or node.Class() != "Write":
        raise ValueError(f"{nameOrNode} is not a Write node")
    if _st().executing or _st().ui_callback:
        raise RuntimeError("I'm already executing something else")
    end = start if end is None else end
    saved = _st().frame
    _st().executing += 1
    try:
        _render_hook("beforeRender", node)
        for f in range(int(start), int(end) + 1, int(incr)):
            if _st().cancel_execute:
                raise RuntimeError("Cancelled")
            _st().frame = f
            _render_hook("beforeFrameRender", node)
            source = node.input(0)
            image = _pixels.evaluate(source, f, _st()) if source is not None else _pixels.black(_st().format)
            channels = _pixels.layer_channels(node["channels"].value(), image, _st().layers)
            path = node["file"]._evaluate_at(f)
            if node["create_directories"].value():
                os.makedirs(os.path.dirname(path), exist_ok=True)
            _pixels.write_exr(path, {c: image[c] for c in channels if c in image},
                              half="half" in node["datatype"].value())
            _render_hook("afterFrameRender", node)
        _render_hook("afterRender", node)
    finally:
        _st().frame = saved
        _st().executing -= 1


def _render_hook(kind: str, node: Node) -> None:
    try:
        node._run_python(node[kind].value(), node[kind])
        _session.run_callbacks(kind, node)
    except Exception as exc:  # noqa: BLE001 - Nuke aborts the render with the callback's message
        raise RuntimeError(f"{kind} callback failed: {exc}") from exc


def executing() -> bool:
    return _st().executing > 0


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
