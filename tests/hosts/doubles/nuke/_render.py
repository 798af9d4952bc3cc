"""Rendering and threads in the nuke double: nuke.execute of a Write with its render callbacks, progress tasks,
executeInMainThread (what it queues runs in nuke._process_events, the event loop)."""

from __future__ import annotations

import os
from typing import Any

from . import _pixels, _session
from ._graph import toNode
from ._nodes import Node
from ._session import st as _st


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
