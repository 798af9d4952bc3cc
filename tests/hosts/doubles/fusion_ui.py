"""A double of Fusion's UIManager (``fusion.UIManager``) and ``bmd.UIDispatcher``, as far as a comp script uses them.

fusionscript-stubs 21.0.0 has no UIManager (its Fusion class is empty), so this follows public comp scripts in the
code index (a Resolve "Video Downloader" utility and VinciSub: ``ui.Timer({"ID", "Interval", "SingleShot"})``,
``disp.On.Timeout = f`` -- "a standalone UITimer belongs to the dispatcher, not to the window's child widgets",
``ui.Slider`` used as a progress bar, ``win.On.<window id>.Close``, ``disp.RunLoop``/``ExitLoop``), Andrew
Hazelden's "UI Manager Lua & Python Examples" (``dlg.On.MyWin.Close``, ``win.GetItems()``) and
EmberLightVFX/Fusion-Script-Docs docs/UITimer.md (UITimer wraps a QTimer: Interval, SingleShot, IsActive,
Start, Stop).

Rules the double enforces: item properties are only those the element was made with (plus Enabled/Text/Value);
events reach handlers set on ``On`` (a Timeout only the dispatcher's ``On.Timeout``); ``RunLoop`` blocks until
``ExitLoop``, delivering the started timers' Timeouts in order of their intervals and, between them, the test's
user actions (``UIDispatcher._user``: called with the window after each timer tick, e.g. to click Cancel).
``RunLoop`` refuses to run for more than ``LOOP_LIMIT`` seconds (a script whose loop never ends).
"""

from __future__ import annotations

import time
from typing import Any

LOOP_LIMIT = 300.0
USER = None  # test hook: the user's actions, called with the window between timer ticks (see UIDispatcher)
DISPATCHERS: list[UIDispatcher] = []  # every dispatcher made, for the tests to look at


class _Handlers:
    """``On``: ``On.<id>.<Event> = f`` / ``On[id].<Event> = f`` (windows), ``On.Timeout = f`` (the dispatcher)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_by_id", {})
        object.__setattr__(self, "_direct", {})

    def __getattr__(self, name: str) -> Any:
        return self[name]

    def __getitem__(self, name: str) -> Any:
        return self._by_id.setdefault(name, _Events())

    def __setattr__(self, name: str, value: Any) -> None:
        self._direct[name] = value


class _Events:
    def __init__(self) -> None:
        object.__setattr__(self, "_handlers", {})

    def __setattr__(self, name: str, value: Any) -> None:
        self._handlers[name] = value


class UIItem:
    _COMMON = {"ID": "", "Enabled": True, "Text": "", "Value": 0}

    def __init__(self, kind: str, props: dict[str, Any] | None = None, children: list[UIItem] | None = None):
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_props", dict(self._COMMON, **(props or {})))
        object.__setattr__(self, "_children", list(children or []))

    def __getattr__(self, name: str) -> Any:
        props = object.__getattribute__(self, "_props")
        if name in props:
            return props[name]
        raise AttributeError(f"ui.{self._kind} has no property {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._props:
            raise AttributeError(f"ui.{self._kind} has no property {name}")
        self._props[name] = value

    def _walk(self) -> list[UIItem]:
        return [self] + [d for c in self._children for d in c._walk()]


class UITimer(UIItem):
    def __init__(self, props: dict[str, Any]):
        super().__init__("Timer", dict({"Interval": 0, "SingleShot": False, "IsActive": False}, **props))
        object.__setattr__(self, "_due", 0.0)

    def Start(self) -> None:
        self._props["IsActive"] = True
        object.__setattr__(self, "_due", time.monotonic() + self.Interval / 1000.0)

    def Stop(self) -> None:
        self._props["IsActive"] = False


class UIManager:
    """``ui``: element constructors taking a props dict (groups: props and/or a list of children)."""

    def __init__(self) -> None:
        self._timers: list[UITimer] = []

    def _element(self, kind: str, *args: Any) -> UIItem:
        props = next((a for a in args if isinstance(a, dict)), {})
        children = next((a for a in args if isinstance(a, list)), [])
        return UIItem(kind, props, children)

    def VGroup(self, *args: Any) -> UIItem:
        return self._element("VGroup", *args)

    def HGroup(self, *args: Any) -> UIItem:
        return self._element("HGroup", *args)

    def Label(self, props: dict[str, Any]) -> UIItem:
        return self._element("Label", props)

    def Button(self, props: dict[str, Any]) -> UIItem:
        return self._element("Button", props)

    def Slider(self, props: dict[str, Any]) -> UIItem:
        return self._element("Slider", dict({"Minimum": 0, "Maximum": 99}, **props))

    def Timer(self, props: dict[str, Any]) -> UITimer:
        timer = UITimer(props)
        self._timers.append(timer)
        return timer


class UIWindow:
    def __init__(self, props: dict[str, Any], root: UIItem):
        self._props, self._root = props, root
        self.On = _Handlers()
        self.shown = False

    def GetItems(self) -> dict[str, UIItem]:
        return {item.ID: item for item in self._root._walk() if item.ID}

    def Show(self) -> None:
        self.shown = True

    def Hide(self) -> None:
        self.shown = False

    def _click(self, item_id: str) -> None:
        """The user clicks a button (a disabled one does nothing)."""
        if self.GetItems()[item_id].Enabled:
            self._fire(item_id, "Clicked")

    def _close(self) -> None:
        """The user closes the window with its title-bar button."""
        self._fire(self._props["ID"], "Close")

    def _fire(self, item_id: str, event: str) -> None:
        handler = self.On[item_id]._handlers.get(event)
        if handler is not None:
            handler({"who": item_id, "what": event, "window": self._props["ID"]})


class UIDispatcher:
    def __init__(self, ui: UIManager):
        self._ui = ui
        self.On = _Handlers()
        self.windows: list[UIWindow] = []
        self._running = False
        self._user = USER
        DISPATCHERS.append(self)

    def AddWindow(self, props: dict[str, Any], root: UIItem | list[UIItem]) -> UIWindow:
        window = UIWindow(props, root if isinstance(root, UIItem) else UIItem("VGroup", {}, root))
        self.windows.append(window)
        return window

    def ExitLoop(self, *args: Any) -> None:
        self._running = False

    def RunLoop(self) -> None:
        self._running = True
        deadline = time.monotonic() + LOOP_LIMIT
        while self._running:
            if time.monotonic() > deadline:
                raise RuntimeError("RunLoop ran past its limit: nothing called ExitLoop")
            active = [t for t in self._ui._timers if t.IsActive]
            if not active:
                raise RuntimeError("RunLoop with no active timer and no user: the script would wait forever")
            timer = min(active, key=lambda t: t._due)
            time.sleep(max(0.0, timer._due - time.monotonic()))
            if timer.SingleShot:
                timer.Stop()
            else:
                object.__setattr__(timer, "_due", time.monotonic() + timer.Interval / 1000.0)
            handler = self.On._direct.get("Timeout")
            if handler is not None:
                handler({"who": timer.ID, "what": "Timeout"})
            if self._running and self._user is not None and self.windows:
                self._user(self.windows[-1])
