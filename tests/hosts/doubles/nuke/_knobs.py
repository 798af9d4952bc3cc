"""Knob classes of the nuke double (names and signatures as in types-nuke 13.2's _nuke.pyi).

A knob holds a value, optionally an expression (``{{parent.x}}``) or animation keys; numeric knobs
evaluate expressions, string knobs evaluate ``[value ...]`` only in getEvaluatedValue (as Nuke does).
"""

from __future__ import annotations

import re
from typing import Any

from ._script import quote

STARTLINE, DISABLED, INVISIBLE, HIDDEN = 0x1000, 0x80, 0x400, 0x40000
_FLAG_NAMES = {"+STARTLINE": STARTLINE, "+DISABLED": DISABLED, "+INVISIBLE": INVISIBLE, "+HIDDEN": HIDDEN}


class Knob:
    type_id = 0

    def __init__(self, name: str, label: str | None = None, *args: Any):
        self._name = name
        self._label = label if label is not None else name
        self._tooltip = ""
        self._value: Any = self._initial()
        self._default: Any = self._value
        self._expression: str | None = None
        self._keys: dict[float, Any] = {}
        self._enabled = True
        self._visible = True
        self._flags = 0
        self._node: Any = None

    # --- identity
    def Class(self) -> str:
        return type(self).__name__

    def name(self) -> str:
        return self._name

    def setName(self, name: str) -> None:
        self._name = name

    def label(self) -> str:
        return self._label

    def setLabel(self, label: str) -> None:
        self._label = label

    def tooltip(self) -> str:
        return self._tooltip

    def setTooltip(self, tooltip: str) -> None:
        self._tooltip = tooltip

    def node(self) -> Any:
        return self._node

    def fullyQualifiedName(self, channel: int = -1) -> str:
        return f"{self._node.fullName()}.{self._name}"

    # --- flags / UI state
    def enabled(self) -> bool:
        return self._enabled

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def visible(self) -> bool:
        return self._visible

    def setVisible(self, visible: bool) -> None:
        self._visible = bool(visible)

    def setFlag(self, flag: int) -> None:
        self._flags |= flag

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~flag

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & flag)

    # --- values
    def _initial(self) -> Any:
        return ""

    def _coerce(self, value: Any) -> Any:
        return value

    def value(self, *args: Any) -> Any:
        return self._value_at(self._current_frame())

    def getValue(self, *args: Any) -> Any:
        return self.value()

    def _value_at(self, frame: float, *args: Any) -> Any:
        if self._expression is not None:
            return self._coerce(self._node._eval_expression(self._expression))
        if self._keys:
            return self._coerce(_interpolate(self._keys, frame))
        return self._value

    def getValueAt(self, frame: float, index: int = -1, view: str | None = None) -> Any:
        return self._value_at(frame)

    # (_value_at: the knob's value at a frame, used by the double's pixel code; in Nuke only Array_Knob has a
    # public valueAt - types-nuke _nuke.pyi - which the double's Array_Knob offers)

    def setValue(self, value: Any, *args: Any) -> bool:
        self._value = self._coerce(value)
        self._expression = None
        self._keys.clear()
        self._changed()
        return True

    def setValueAt(self, value: Any, time: float, index: int = -1, view: str | None = None) -> bool:
        self._keys[float(time)] = self._coerce(value)
        self._expression = None
        self._changed()
        return True

    def isAnimated(self, channel: int = -1) -> bool:
        return bool(self._keys) or self._expression is not None

    def hasExpression(self, index: int = -1) -> bool:
        return self._expression is not None

    def setExpression(self, expression: str, index: int = -1, view: str | None = None) -> bool:
        self._expression = expression
        self._changed()
        return True

    def clearAnimated(self, channel: int = -1) -> bool:
        self._keys.clear()
        self._expression = None
        return True

    def _not_default(self) -> bool:
        return self._value != self._default or self.isAnimated()

    def toScript(self, quote_: bool = False, context: Any = None) -> str:
        if self._expression is not None:
            return "{{" + self._expression + "}}"
        if self._keys:
            keys = " ".join(f"x{_num(t)} {_num(v)}" for t, v in sorted(self._keys.items()))
            return "{{curve " + keys + "}}"
        return self._script_value(self._value)

    def _script_value(self, value: Any) -> str:
        return quote(str(value))

    def fromScript(self, text: str, kind: str = "word") -> None:
        """Set from a script token (expression ``{{..}}``, animation ``{{curve ..}}`` or a plain value)."""
        text = text.strip() if kind == "braced" else text
        if kind == "braced" and text.startswith("{") and text.endswith("}"):
            inner = text[1:-1].strip()
            if inner.startswith("curve"):
                words = inner.split()[1:]
                self._keys = {float(words[i][1:]): self._coerce(words[i + 1]) for i in range(0, len(words), 2)}
            else:
                self._expression = inner
            return
        self._value = self._coerce(text)

    def _current_frame(self) -> float:
        import nuke

        return nuke.frame()

    def _changed(self) -> None:
        if self._node is not None:
            self._node._knob_changed(self)


def _num(v: Any) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


def _interpolate(keys: dict[float, Any], frame: float) -> Any:
    times = sorted(keys)
    if frame <= times[0]:
        return keys[times[0]]
    if frame >= times[-1]:
        return keys[times[-1]]
    for a, b in zip(times, times[1:], strict=False):
        if a <= frame <= b:
            t = (frame - a) / (b - a)
            return float(keys[a]) + t * (float(keys[b]) - float(keys[a]))
    return keys[times[-1]]


class String_Knob(Knob):
    type_id = 1

    def _coerce(self, value: Any) -> str:
        return "" if value is None else str(value)

    def setText(self, text: str) -> None:
        self.setValue(text)

    def getText(self, oc: Any = None) -> str:
        return self.value()


class EvalString_Knob(String_Knob):
    def evaluate(self, frame: float | None = None) -> str:
        return self._node._eval_tcl(self.value())


class File_Knob(EvalString_Knob):
    type_id = 2

    def _coerce(self, value: Any) -> str:
        """Nuke stores sequence patterns in printf form: ``####`` becomes ``%04d``."""
        text = "" if value is None else str(value)
        return re.sub(r"#+", lambda m: f"%0{len(m.group(0))}d", text)

    def getEvaluatedValue(self, oc: Any = None) -> str:
        return self._evaluate_at(self._current_frame())

    def _evaluate_at(self, frame: float) -> str:
        text = self._node._eval_tcl(self.value())
        return re.sub(r"%(\d*)d", lambda m: str(int(frame)).zfill(int(m.group(1) or 0)), text)


class Multiline_Eval_String_Knob(EvalString_Knob):
    pass


class Script_Knob(String_Knob):
    def command(self) -> str:
        return self._value

    def setCommand(self, cmd: str) -> None:
        self._value = cmd

    def execute(self) -> Any:
        return self._node._run_python(self._value, knob=self)


class PyScript_Knob(Script_Knob):
    type_id = 22

    def __init__(self, name: str, label: str | None = None, command: str = "", *args: Any):
        super().__init__(name, label)
        self._value = command


class Array_Knob(Knob):
    type_id = 9

    def valueAt(self, time: float, index: int = -1, view: str | None = None) -> Any:
        return self._value_at(time)

    def _initial(self) -> Any:
        return 0.0

    def _coerce(self, value: Any) -> Any:
        return float(value)

    def _script_value(self, value: Any) -> str:
        return _num(value)

    def setRange(self, lo: float, hi: float) -> None:
        self._range = (lo, hi)


class Double_Knob(Array_Knob):
    type_id = 7


class Int_Knob(Array_Knob):
    type_id = 3

    def _initial(self) -> int:
        return 0

    def _coerce(self, value: Any) -> int:
        return int(round(float(value)))


class ColorChip_Knob(Int_Knob):
    def _coerce(self, value: Any) -> int:
        return int(value, 0) if isinstance(value, str) else int(value)

    def _script_value(self, value: Any) -> str:
        return hex(value)


class Boolean_Knob(Array_Knob):
    type_id = 6

    def _initial(self) -> bool:
        return False

    def _coerce(self, value: Any) -> bool:
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)

    def _script_value(self, value: Any) -> str:
        return "true" if value else "false"


class Disable_Knob(Boolean_Knob):
    pass


class Enumeration_Knob(Knob):
    type_id = 4

    def __init__(self, name: str, label: str | None = None, items: list[str] | None = None, *args: Any):
        self._items = list(items or [])
        super().__init__(name, label)

    def _initial(self) -> str:
        return self._items[0] if getattr(self, "_items", None) else ""

    def _coerce(self, value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and self._items:
            return self._items[int(value)]
        value = str(value)
        if self._items and value not in self._items and re.fullmatch(r"\d+(\.0*)?", value):
            return self._items[int(float(value))]  # an animation curve holds the item index
        if self._items and value not in self._items:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._items}")
        return value

    def toScript(self, quote_: bool = False, context: Any = None) -> str:
        if self._keys and self._expression is None:
            keys = " ".join(f"x{_num(t)} {self._items.index(v)}" for t, v in sorted(self._keys.items()))
            return "{{curve " + keys + "}}"
        return super().toScript(quote_, context)

    def _value_at(self, frame: float, *args: Any) -> Any:
        if self._keys and self._expression is None:  # a dropdown's animation steps, it does not interpolate
            times = [t for t in sorted(self._keys) if t <= frame] or [min(self._keys)]
            return self._keys[times[-1]]
        return super()._value_at(frame)

    def getValueAt(self, frame: float, index: int = -1, view: str | None = None) -> Any:
        """The item's index (a float), not its name: Enumeration_Knob is an Array_Knob (Foundry's class
        reference: Enumeration_Knob -> Unsigned_Knob -> Array_Knob; types-nuke _nuke.pyi), only value() names it."""
        value = self._value_at(frame)
        return float(self._items.index(value)) if value in self._items else float(value)

    def values(self) -> list[str]:
        return list(self._items)

    def numValues(self) -> int:
        return len(self._items)

    def enumName(self, n: int) -> str:
        return self._items[n]

    def setValues(self, items: list[str]) -> None:
        self._items = list(items)
        if self._items and self._value not in self._items:
            self._value = self._items[0]


class Text_Knob(Knob):
    type_id = 26

    def __init__(self, name: str, label: str | None = None, text: str = "", *args: Any):
        super().__init__(name, label)
        self._value = text


class Tab_Knob(Knob):
    type_id = 20


class Channel_Knob(Knob):
    """One channel (Copy's ``from0``/``to0``): ``rgba.alpha``; a leading ``-`` disables it (a Knob, not a
    String_Knob: types-nuke _nuke.pyi)."""

    def _coerce(self, value: Any) -> str:
        return "" if value is None else str(value)


class ChannelMask_Knob(Channel_Knob):
    """A channel-set knob (Copy's ``channels``): a layer name, ``all`` or ``none``."""


KNOB_TYPES: dict[int, type[Knob]] = {
    1: String_Knob, 2: File_Knob, 3: Int_Knob, 4: Enumeration_Knob, 6: Boolean_Knob, 7: Double_Knob,
    8: Double_Knob, 9: Array_Knob, 20: Tab_Knob, 22: PyScript_Knob, 26: Text_Knob,
}
FLAGS = _FLAG_NAMES
