"""The script of the nuke double: creating, finding and deleting nodes, the node and knob a callback runs for,
the current frame, script files (save, open, source, paste) and knob values by name."""

from __future__ import annotations

from typing import Any

from . import _build
from ._knobs import Knob
from ._nodes import Group, Node, Root
from ._session import st as _st


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
