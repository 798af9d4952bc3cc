"""Nodes of the nuke double: Node, Group, Gizmo, Root (their knobs: _classes), Format and Layer."""

from __future__ import annotations

from typing import Any

from . import _pixels, _session
from ._classes import class_knobs, common_knobs
from ._knobs import Knob
from ._script import block_pairs
from ._session import st as _st


class Format:
    def __init__(self, w: int, h: int, name: str = ""):
        self._w, self._h, self._name = w, h, name

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h

    def name(self) -> str:
        return self._name

    def pixelAspect(self) -> float:
        return 1.0


class Node:
    _is_group = False

    def __init__(self, cls: str, parent: Group | None = None):
        self._class = cls
        self._knobs: dict[str, Knob] = {}
        self._inputs: list[Node | None] = []
        self._parent = parent
        self._reloads = 0
        self._loading = False
        self._in_callback = 0
        for k in common_knobs() + class_knobs(cls if cls in ("Root",) or not self._is_group else "Group"):
            self.addKnob(k)
        self._max_inputs = {"Read": 0, "Input": 0, "Copy": 2, "Merge2": 2, "Root": 0}.get(cls, 1)

    # identity
    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._knobs["name"]._value

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        self._knobs["name"]._value = name

    def fullName(self) -> str:
        p = self._parent
        return self.name() if p is None or isinstance(p, Root) else f"{p.fullName()}.{self.name()}"

    def parent(self) -> Group | None:
        return self._parent

    def __repr__(self) -> str:
        return f"<{self._class} {self.fullName()}>"

    # knobs
    def addKnob(self, knob: Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob

    def removeKnob(self, knob: Knob) -> None:
        self._knobs.pop(knob.name(), None)

    def knob(self, p: str | int, follow_link: bool = True) -> Knob | None:
        if isinstance(p, int):
            return list(self._knobs.values())[p]
        return self._knobs.get(p)

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def allKnobs(self) -> list[Knob]:
        return list(self._knobs.values())

    def numKnobs(self) -> int:
        return len(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        k = self._knobs.get(name)
        if k is None:
            raise NameError(f"knob {name} does not exist")
        return k

    def readKnobs(self, s: str) -> None:
        from . import _build

        _build.apply_pairs(self, block_pairs(s))

    def writeKnobs(self, flags: int = 0) -> str:
        return " ".join(f"{k.name()} {k.toScript()}" for k in self._knobs.values() if k._not_default())

    # inputs
    def input(self, index: int) -> Node | None:
        return self._inputs[index] if index < len(self._inputs) else None

    def inputs(self) -> int:
        while self._inputs and self._inputs[-1] is None:
            self._inputs.pop()
        return len(self._inputs)

    def maxInputs(self) -> int:
        return self._max_inputs

    def setInput(self, i: int, node: Node | None) -> bool:
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        self._knob_changed(_PseudoKnob("inputChange", self))
        return True

    connectInput = setInput

    def dependencies(self, mask: int = 0) -> list[Node]:
        return [n for n in self._inputs if n is not None]

    # frames and pixels
    def firstFrame(self) -> int:
        return int(self["first"].value()) if "first" in self._knobs else _st().root.firstFrame()

    def lastFrame(self) -> int:
        return int(self["last"].value()) if "last" in self._knobs else _st().root.lastFrame()

    def format(self) -> Format:
        """A Read's format is its file's size (first frame); other nodes: the script's format."""
        if self._class == "Read":
            plane = next(iter(_pixels.evaluate(self, self.firstFrame(), _st()).values()))
            return Format(plane.shape[1], plane.shape[0])
        return Format(*_st().format)

    def width(self) -> int:
        return _st().format[0]

    def height(self) -> int:
        return _st().format[1]

    def metadata(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    def channels(self) -> list[str]:
        return sorted(_pixels.evaluate(self, _st().frame, _st()))

    def sample(self, channel: str, x: float, y: float, dx: float = 1, dy: float = 1, frame: int | None = None) -> float:
        image = _pixels.evaluate(self, _st().frame if frame is None else frame, _st())
        plane = image.get(channel)
        if plane is None:
            return 0.0
        return float(plane[plane.shape[0] - 1 - int(y), int(x)])  # Nuke's y grows upward

    def error(self) -> bool:
        try:
            _pixels.evaluate(self, _st().frame, _st())
        except RuntimeError:
            return True
        return False

    hasError = error

    def showControlPanel(self, forceFloat: bool = False) -> None:
        self._knob_changed(_PseudoKnob("showPanel", self))

    def hideControlPanel(self) -> None:
        pass

    def setXYpos(self, x: int, y: int) -> None:
        self["xpos"]._value, self["ypos"]._value = x, y

    def xpos(self) -> int:
        return self["xpos"].value()

    def ypos(self) -> int:
        return self["ypos"].value()

    def isSelected(self) -> bool:
        return bool(self["selected"].value())

    def setSelected(self, selected: bool) -> None:
        self["selected"]._value = bool(selected)

    # expressions and callbacks
    def _resolve_knob(self, ref: str) -> Knob:
        parts = ref.split(".")
        node: Node | None = self
        if len(parts) == 1:
            return self[parts[0]]
        head, knob_name = parts[:-1], parts[-1]
        for i, part in enumerate(head):
            if part == "parent":
                node = node._parent if node is not None else None
            elif part == "root":
                node = _st().root
            elif part == "this":
                node = node
            else:
                group = node._parent if i == 0 and node is not None else node
                node = group.node(part) if isinstance(group, Group) else None
            if node is None:
                raise RuntimeError(f"{self.fullName()}: cannot resolve {ref}")
        return node[knob_name]

    def _eval_expression(self, expr: str) -> Any:
        import re

        text = expr.strip()
        negate = text.startswith("!")
        text = text.lstrip("!").strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            value: Any = float(text)
        elif text == "$gui":
            value = _st().gui
        else:
            value = self._resolve_knob(text).value()
        return (not value) if negate else value

    def _eval_tcl(self, text: str) -> str:
        import re

        return re.sub(r"\[value ([\w.]+)\]", lambda m: str(self._resolve_knob(m.group(1)).value()), text)

    def _run_python(self, code: str, knob: Knob | None = None) -> Any:
        if not code.strip():
            return None
        _st().context.append((self, knob))
        try:
            exec(compile(code, f"<{self.fullName()}.{knob.name() if knob else '?'}>", "exec"), _st().py_globals)
        finally:
            _st().context.pop()
        return None

    def _knob_changed(self, knob: Knob) -> None:
        if self._loading or self._in_callback > 2:
            return
        self._in_callback += 1
        _st().ui_callback += 1
        try:
            self._run_python(self._knobs["knobChanged"]._value, knob)
            _session.run_callbacks("knobChanged", self, knob)
        finally:
            self._in_callback -= 1
            _st().ui_callback -= 1


class _PseudoKnob(Knob):
    def __init__(self, name: str, node: Node):
        super().__init__(name)
        self._node = node


class Group(Node):
    _is_group = True

    def __init__(self, cls: str = "Group", parent: Group | None = None):
        self._children: list[Node] = []
        super().__init__(cls, parent)
        self._max_inputs = 0

    def nodes(self) -> list[Node]:
        return list(self._children)

    def numNodes(self) -> int:
        return len(self._children)

    def node(self, s: str) -> Node | None:
        head, _, rest = s.partition(".")
        found = next((n for n in self._children if n.name() == head), None)
        if rest and isinstance(found, Group):
            return found.node(rest)
        return None if rest else found

    def inputs(self) -> int:
        n_inputs = len([n for n in self._children if n.Class() == "Input"])
        return max(n_inputs, super().inputs())

    def maxInputs(self) -> int:
        return len([n for n in self._children if n.Class() == "Input"])

    def output(self) -> Node | None:
        return next((n for n in self._children if n.Class() == "Output"), None)

    def begin(self) -> Group:
        _st().group_stack.append(self)
        return self

    def end(self) -> None:
        if _st().group_stack and _st().group_stack[-1] is self:
            _st().group_stack.pop()

    def __enter__(self) -> Group:
        return self.begin()

    def __exit__(self, *exc: Any) -> None:
        self.end()

    def selectedNodes(self) -> list[Node]:
        return [n for n in self._children if n.isSelected()]


class Gizmo(Group):
    def __init__(self, cls: str, path: str, parent: Group | None = None):
        super().__init__(cls, parent)
        self._path = path

    def filename(self) -> str:
        return self._path

    def command(self) -> str:
        return f"nuke.createNode('{self._class}')"


class Root(Group):
    def __init__(self) -> None:
        Group.__init__(self, "Root", None)
        self._knobs["name"]._value = ""

    def name(self) -> str:
        return "Root"

    def fullName(self) -> str:
        return "root"

    def firstFrame(self) -> int:
        return int(self["first_frame"].value())

    def lastFrame(self) -> int:
        return int(self["last_frame"].value())

    def fps(self) -> float:
        return float(self["fps"].value())

    def format(self) -> Format:
        return Format(*_st().format)


class Layer:
    def __init__(self, name: str, channels: list[str] | None = None):
        self._name = name
        _st().layers[name] = list(channels or [])

    def name(self) -> str:
        return self._name

    def channels(self) -> list[str]:
        return list(_st().layers[self._name])


def layers(node: Node | None = None) -> list[str]:
    if node is None:
        return sorted(set(_pixels.BUILTIN_LAYERS) - {"rgb", "alpha"} | set(_st().layers))
    return sorted({c.split(".")[0] for c in node.channels()})
