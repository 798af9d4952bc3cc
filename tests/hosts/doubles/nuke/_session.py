"""The state of one session of the nuke double (replaced by ``nuke._reset``) and the callback runner."""

from __future__ import annotations

import threading
from typing import Any

state: Any = None


def st() -> Any:
    """The current session."""
    return state


class State:
    def __init__(self, gui: bool):
        self.gui = gui
        self.plugin_path: list[str] = []
        self.callbacks: dict[str, list[tuple[Any, tuple, dict, str]]] = {}
        self.root: Any = None
        self.group_stack: list[Any] = []
        self.frame = 1
        self.context: list[tuple[Any, Any]] = []
        self.main_queue: list[tuple[Any, tuple, dict]] = []
        self.main_lock = threading.Lock()
        self.menus: dict[str, Any] = {}
        self.layers: dict[str, list[str]] = {}
        self.format = (640, 480)
        self.messages: list[str] = []
        self.tasks: list[Any] = []
        self.cancel_tasks = False
        self.py_globals: dict[str, Any] = {"__name__": "__main__"}
        self.executing = 0
        self.ui_callback = 0  # > 0 while updateUI / knobChanged callbacks run
        self.cancel_execute = False  # the user cancels nuke.execute's progress bar



def run_callbacks(kind: str, node: Any, knob: Any = None) -> None:
    for call, args, kwargs, node_class in list(state.callbacks.get(kind, [])):
        if node_class not in ("*", node.Class()):
            continue
        state.context.append((node, knob))
        try:
            call(*args, **kwargs)
        finally:
            state.context.pop()
