"""Menus and toolbars of the nuke double (nuke.menu, nuke.toolbar, Menu.addCommand paths like "FaceSwap/Render")."""

from __future__ import annotations

from typing import Any

from ._session import st as _st


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
