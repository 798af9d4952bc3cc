"""The knobs every node of the nuke double has and those of each built-in class, as Nuke has them."""

from __future__ import annotations

from ._knobs import (
    Boolean_Knob,
    Channel_Knob,
    ChannelMask_Knob,
    ColorChip_Knob,
    Disable_Knob,
    Double_Knob,
    Enumeration_Knob,
    File_Knob,
    Int_Knob,
    Knob,
    Multiline_Eval_String_Knob,
    PyScript_Knob,
    Script_Knob,
    String_Knob,
)


class _ReloadKnob(PyScript_Knob):
    def execute(self) -> None:
        self._node._reloads += 1


def common_knobs() -> list[Knob]:
    return [String_Knob("name"), Multiline_Eval_String_Knob("label"), Disable_Knob("disable"),
            ColorChip_Knob("tile_color"), Int_Knob("xpos"), Int_Knob("ypos"), Boolean_Knob("selected"),
            String_Knob("help"), Script_Knob("onCreate"), Script_Knob("knobChanged"), Script_Knob("updateUI")]


def _enum(name: str, items: list[str], value: str | None = None) -> Enumeration_Knob:
    k = Enumeration_Knob(name, name, items)
    if value is not None:
        k._value = value
    return k


def class_knobs(cls: str) -> list[Knob]:
    if cls == "Read":
        last = Int_Knob("last")
        last._value = 1
        first = Int_Knob("first")
        first._value = 1
        cs = String_Knob("colorspace")
        cs._value = "default"
        return [File_Knob("file"), first, last, Int_Knob("origfirst"), Int_Knob("origlast"),
                _enum("before", ["hold", "loop", "bounce", "black"]),
                _enum("after", ["hold", "loop", "bounce", "black"]),
                _enum("on_error", ["error", "black", "checkerboard", "nearest frame"]), Boolean_Knob("raw"), cs,
                # frame_mode + frame: Foundry's guide "Changing the Relation Between the Current Frame and the
                # Frame Read In" (expression, start at, offset; see _pixels._file_frame)
                _enum("frame_mode", ["expression", "start at", "offset"]), String_Knob("frame"),
                String_Knob("format"), _ReloadKnob("reload", "Reload")]
    if cls == "Write":
        order = Int_Knob("render_order")
        order._value = 1
        channels = ChannelMask_Knob("channels")
        channels._value = "rgb"
        dtype = String_Knob("datatype")
        dtype._value = "16 bit half"
        return [File_Knob("file"), String_Knob("file_type"), dtype, String_Knob("compression"), channels,
                Boolean_Knob("raw"), Boolean_Knob("create_directories"), String_Knob("colorspace"), order,
                Boolean_Knob("use_limit"), Int_Knob("first"), Int_Knob("last"), String_Knob("beforeRender"),
                String_Knob("beforeFrameRender"), String_Knob("afterFrameRender"), String_Knob("afterRender")]
    if cls == "Copy":
        knobs: list[Knob] = []
        for i in range(4):
            for side in ("from", "to"):
                k = Channel_Knob(f"{side}{i}")
                k._value = "rgba.alpha" if i == 0 else "none"
                knobs.append(k)
        masks = []
        for name in ("channels", "channels2", "channels3", "channels4"):  # Copy's four layer-set knobs
            ch = ChannelMask_Knob(name)
            ch._value = "none"
            masks.append(ch)
        return knobs + masks
    if cls == "Merge2":
        return [_enum("operation", ["over", "under", "plus", "copy"], "over")]
    if cls == "TimeOffset":
        return [Int_Knob("time_offset")]
    if cls == "Grade":
        mul = Double_Knob("multiply")
        mul._value = 1.0
        ch = ChannelMask_Knob("channels")
        ch._value = "rgb"
        return [mul, ch]
    if cls == "Input":
        return [Int_Knob("number")]
    if cls == "Root":
        first, last, fps = Int_Knob("first_frame"), Int_Knob("last_frame"), Double_Knob("fps")
        first._value, last._value, fps._value = 1, 100, 24.0
        ws = String_Knob("workingSpaceLUT")
        ws._value = "linear"
        return [first, last, fps, String_Knob("format"), _enum("colorManagement", ["Nuke", "OCIO"]), ws,
                String_Knob("OCIO_config"), Boolean_Knob("lock_range"), Boolean_Knob("proxy")]
    if cls in ("Output", "Dot", "NoOp", "Group", "Gizmo", "Viewer"):
        return []
    raise RuntimeError(f"{cls}: unknown command")

