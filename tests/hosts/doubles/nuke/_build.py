"""Creating nodes (built-in classes and gizmos found on the plugin path) and reading/writing script text."""

from __future__ import annotations

import os
from typing import Any

from . import _session
from ._knobs import FLAGS, KNOB_TYPES, Enumeration_Knob, String_Knob
from ._nodes import Gizmo, Group, Layer, Node, _PseudoKnob
from ._script import block_pairs, parse_user_knob, quote, statements
from ._session import st as _st


def current_group() -> Group:
    return _st().group_stack[-1] if _st().group_stack else _st().root


def unique_name(group: Group, cls: str) -> str:
    i = 1
    while group.node(f"{cls}{i}") is not None:
        i += 1
    return f"{cls}{i}"


def find_gizmo(cls: str) -> str | None:
    for folder in _st().plugin_path:
        path = os.path.join(folder, cls + ".gizmo")
        if os.path.isfile(path):
            return path
    return None


def make(cls: str, group: Group) -> Node:
    if cls == "Group":
        node: Node = Group("Group", group)
    else:
        gizmo = find_gizmo(cls)
        if gizmo is not None:
            node = Gizmo(cls, gizmo, group)
            node._loading = True
            with open(gizmo, encoding="utf-8") as f:
                load_text(f.read(), node, gizmo_body=True)
            node._loading = False
        else:
            node = Node(cls, group)
    node.setName(unique_name(group, cls))
    group._children.append(node)
    return node


def created(node: Node, user: bool) -> None:
    node._run_python(node["onCreate"].value(), node["onCreate"])
    _session.run_callbacks("onCreate", node)
    if user:
        _session.run_callbacks("onUserCreate", node)


def apply_pairs(node: Node, pairs: list[tuple[str, Any]]) -> int:
    """Set knobs from ``name value`` pairs; returns the node's ``inputs`` count."""
    n_inputs = node.maxInputs() if node.Class() not in ("Read", "Input") else 0
    for name, tok in pairs:
        if name == "addUserKnob":
            uk = parse_user_knob(tok.text)
            cls = KNOB_TYPES.get(uk.type_id, String_Knob)
            label = uk.label or uk.name
            knob = cls(uk.name, label, uk.items) if cls is Enumeration_Knob else cls(uk.name, label)
            knob.setTooltip(uk.tooltip)
            if uk.text is not None:
                knob._value = uk.text
                knob._default = uk.text
            for flag in uk.flags:
                if flag in FLAGS:
                    knob.setFlag(FLAGS[flag])
            if "+DISABLED" in uk.flags:
                knob.setEnabled(False)
            node.addKnob(knob)
        elif name == "inputs":
            n_inputs = int(tok.text.split("+")[0])
        elif name == "name":
            node.setName(tok.text)
        else:
            knob = node.knob(name)
            if knob is None:
                raise RuntimeError(f"{node.Class()}: no knob named {name!r}")
            knob.fromScript(tok.text, tok.kind)
    return n_inputs


def load_text(text: str, target: Group, gizmo_body: bool = False) -> list[Node]:
    """Create the nodes of a script (or a gizmo's knobs + body) inside ``target``."""
    created: list[Node] = []
    groups: list[Group] = [target]
    stacks: list[list[Node | None]] = [[]]
    variables: dict[str, Node | None] = {}
    for st in statements(text):
        head = st[0].text
        if head in ("version", "define_window_layout_xml"):
            continue
        if head == "add_layer":
            words = st[1].text.split()
            Layer(words[0], words[1:])
        elif head == "set":
            variables[st[1].text] = stacks[-1][-1] if stacks[-1] else None
        elif head == "push":
            ref = st[1].text
            stacks[-1].append(None if ref == "0" else variables[ref.lstrip("$")])
        elif head == "end_group":
            if len(groups) == 1:
                break
            groups.pop()
            stacks.pop()
        elif len(st) == 2 and st[1].kind == "braced":
            pairs = block_pairs(st[1].text)
            if head == "Root":
                _st().root._loading = True
                apply_pairs(_st().root, pairs)
                _st().root._loading = False
                fmt = _st().root["format"].value().split()
                if len(fmt) >= 2:
                    _st().format = (int(fmt[0]), int(fmt[1]))
                continue
            if head == "Gizmo" and gizmo_body:
                target._loading = True
                apply_pairs(target, pairs)
                for k in target.knobs().values():
                    k._default = k._value
                continue
            node = make(head, groups[-1])
            node._loading = True
            n_inputs = apply_pairs(node, pairs)
            node._loading = False
            stack = stacks[-1]
            for _ in range(n_inputs):
                node._inputs.append(stack.pop() if stack else None)
            stack.append(node)
            created.append(node)
            if isinstance(node, Group) and not isinstance(node, Gizmo):
                groups.append(node)
                stacks.append([])
        else:
            raise RuntimeError(f"cannot read script statement: {' '.join(t.text for t in st)[:80]}")
    return created


def node_script(node: Node, ids: dict[int, str]) -> str:
    lines = []
    pushes = [node.input(i) for i in range(node.inputs())]
    for src in reversed(pushes):
        lines.append("push 0" if src is None else f"push ${ids[id(src)]}")
    knobs = [f" inputs {len(pushes)}"] if node.maxInputs() != len(pushes) or not pushes else []
    for k in node.knobs().values():
        if k._not_default() and not isinstance(k, _PseudoKnob):
            knobs.append(f" {k.name()} {k.toScript()}")
    knobs.append(f" name {quote(node.name())}")
    lines.append(node.Class() + " {\n" + "\n".join(knobs) + "\n}")
    lines.append(f"set {ids[id(node)]} [stack 0]")
    return "\n".join(lines)


def script_text() -> str:
    root_knobs = "\n".join(f" {k.name()} {k.toScript()}" for k in _st().root.knobs().values()
                           if k._not_default() and k.name() != "name")
    version = "version 13.2 v8"
    out = [version, "Root {\n" + root_knobs + "\n}"]
    ids = {id(n): f"N{i}" for i, n in enumerate(_st().root.nodes())}
    for n in ordered(_st().root.nodes()):
        if isinstance(n, Group) and not isinstance(n, Gizmo):
            raise NotImplementedError("the nuke double does not save plain Groups")
        out.append(node_script(n, ids))
    return "\n".join(out) + "\n"


def ordered(items: list[Node]) -> list[Node]:
    done: list[Node] = []

    def visit(n: Node) -> None:
        if n in done or n not in items:
            return
        for i in range(n.inputs()):
            if n.input(i) is not None:
                visit(n.input(i))
        done.append(n)

    for n in items:
        visit(n)
    return done
