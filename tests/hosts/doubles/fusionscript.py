"""A test double of Blackmagic's Fusion scripting objects (fusionscript / BlackmagicFusion / DaVinciResolveScript).

Follows the checklist in shared/research/hosts.md §2.8 and the Fusion script docs: ``scriptapp``,
``Fusion.GetCurrentComp``; Comp ``AddTool``/``FindTool``/``GetToolList``/``Lock``/``StartUndo``/``GetAttrs``/
``Render``/``AskUser``/``MapPath``/``SetData``; tools with Input objects (``tool.Clip[time]``,
``tool.Clip = v``, ``SetInput``/``GetInput``/``ConnectInput``, ``.Output``), ``GetAttrs``/``SetAttrs``,
``Delete``. The Resolve half (``Resolve.Fusion``, project manager) follows fusionscript-stubs 21.0.
Pixels are real: Loader reads EXR (OpenImageIO, honouring the OpenEXR channel-name inputs), MediaIn reads
a clip through facecomp's frame reader, Merge composites over, and a Saver writes numbered EXRs on Render.
Test-only: ``Fusion._new_comp``, ``Comp._answer`` (how the user answers AskUser), ``Comp.dialogs``,
``MediaIn._source``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import fusion_pixels
import fusion_tools
import numpy as np
from fusion_pixels import media_in_source  # noqa: F401  (tests build MediaIn sources with it)

TIME_UNDEFINED = -2_000_000_000.0
_SEQ = re.compile(r"^(.*?)(\d+)(\.[A-Za-z0-9]+)$")
_CONNECTIONS = {"Saver": ["Input"], "MediaOut": ["Input"], "Merge": ["Background", "Foreground", "EffectMask"],
                "Loader": [], "MediaIn": [], **fusion_tools.CONNECTIONS}
# a Loader's EXR auxiliary-channel slots and their defaults (a public console listing of
# "for all Loader set Clip1.OpenEXRFormat.<Slot>Name to ..."; Psyop's pre-EXRIO fuse filled them by script)
_AUX_SLOTS = {"ZName": "Z", "CovName": "pixelCover", "ObjIDName": "objectID", "MatIDName": "materialID", "UName": "U",
              "VName": "V", "XNormName": "NX", "YNormName": "NY", "ZNormName": "NZ", "XVelName": "velX",
              "YVelName": "velY"}
_VALUES = {
    "Loader": {"Clip": "", "GlobalIn": 0, "GlobalOut": 0, "ClipTimeStart": 0, "ClipTimeEnd": 0, "HoldFirstFrame": 0,
               "HoldLastFrame": 0, "Loop": 0, "Clip1.OpenEXRFormat.RedName": "R",
               "Clip1.OpenEXRFormat.GreenName": "G", "Clip1.OpenEXRFormat.BlueName": "B",
               "Clip1.OpenEXRFormat.AlphaName": "A", **{f"Clip1.OpenEXRFormat.{k}": v for k, v in _AUX_SLOTS.items()}},
    "Saver": {"Clip": "", "OutputFormat": "", "OpenEXRFormat.Depth": 0, "OpenEXRFormat.Compression": 2,
              "CreateDir": 0},
    "Merge": {"Blend": 1.0},
    "MediaIn": {"Layer": ""},
    "MediaOut": {},
    **fusion_tools.VALUES,
}


def sequence_path(clip: str, frame: int) -> str:
    """The file of a frame for a clip named by one of its files (a trailing number sets the padding)."""
    m = _SEQ.match(clip)
    if not m:
        stem, ext = os.path.splitext(clip)
        return f"{stem}{frame:04d}{ext}"
    return f"{m.group(1)}{frame:0{len(m.group(2))}d}{m.group(3)}"


class Output:
    def __init__(self, tool: Tool):
        self._tool = tool

    def GetTool(self) -> Tool:
        return self._tool

    def GetConnectedInputs(self) -> dict[int, Input]:
        comp = self._tool._comp
        found = [t._inputs[n] for t in comp._tools for n in _CONNECTIONS[t.ID] if t._links.get(n) is self]
        return {i + 1: inp for i, inp in enumerate(found)}


class Input:
    def __init__(self, tool: Tool, name: str):
        self._tool, self._name = tool, name

    def __getitem__(self, time: float) -> Any:
        return self._tool.GetInput(self._name, time)

    def __setitem__(self, time: float, value: Any) -> None:
        self._tool.SetInput(self._name, value, time)

    def GetConnectedOutput(self) -> Output | None:
        return self._tool._links.get(self._name)

    def ConnectTo(self, output: Output | None) -> bool:
        return self._tool.ConnectInput(self._name, output)

    def GetAttrs(self) -> dict[str, Any]:
        return {"INPS_Name": self._name, "INPS_ID": self._name}


class Tool:
    def __init__(self, comp: Comp, tool_id: str, name: str):
        if tool_id not in _VALUES:
            raise ValueError(f"the Fusion double has no {tool_id} tool")
        object.__setattr__(self, "_comp", comp)
        object.__setattr__(self, "ID", tool_id)
        object.__setattr__(self, "_attrs", {"TOOLS_Name": name, "TOOLS_RegID": tool_id, "TOOLB_PassThrough": False,
                                            "TOOLB_NameSet": False, "TOOLB_Selected": False})
        object.__setattr__(self, "_values", dict(_VALUES[tool_id]))
        object.__setattr__(self, "_links", {})
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_inputs", {n: Input(self, n) for n in [*_VALUES[tool_id], *_CONNECTIONS[tool_id]]})
        object.__setattr__(self, "Output", Output(self))
        object.__setattr__(self, "_source", None)
        object.__setattr__(self, "_cache", {})  # Loader: frames read, kept until the clip changes or a refresh
        object.__setattr__(self, "_length", None)

    @property
    def Name(self) -> str:
        return self._attrs["TOOLS_Name"]

    def Comp(self) -> Comp:
        return self._comp

    def __repr__(self) -> str:
        return f"<{self.ID} {self.Name}>"

    # inputs: tool.Clip -> Input; tool.Clip = value; tool["Clip"]
    def __getattr__(self, name: str) -> Input:
        inputs = object.__getattribute__(self, "_inputs")
        if name in inputs:
            return inputs[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._inputs:
            if isinstance(value, (Output, Tool)) or value is None:
                self.ConnectInput(name, value)
            else:
                self.SetInput(name, value)
            return
        object.__setattr__(self, name, value)

    def __getitem__(self, name: str) -> Input:
        return self._inputs[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.__setattr__(name, value)

    def _check(self, name: str) -> None:
        if name not in self._values:
            raise KeyError(f"{self.ID} {self.Name} has no input {name!r}")

    def SetInput(self, name: str, value: Any, time: float | None = None) -> bool:
        self._check(name)
        if self.ID == "Loader" and name in ("GlobalIn", "GlobalOut"):
            # "GlobalIn cannot be set past GlobalOut or vice versa" (ayon-fusion load_sequence.py, loader_shift):
            # the value is not applied
            other = self._values["GlobalOut" if name == "GlobalIn" else "GlobalIn"]
            if (name == "GlobalIn" and value > other) or (name == "GlobalOut" and value < other):
                return False
        self._values[name] = value
        if self.ID == "Loader" and name == "Clip":
            self._scan_clip()
        return True

    def GetInput(self, name: str, time: float | None = None) -> Any:
        self._check(name)
        return self._values[name]

    def ConnectInput(self, name: str, target: Tool | Output | None) -> bool:
        if name not in _CONNECTIONS[self.ID]:
            raise KeyError(f"{self.ID} {self.Name} has no image input {name!r}")
        self._links[name] = target.Output if isinstance(target, Tool) else target
        return True

    def _scan_clip(self) -> None:
        """A new clip sets the Loader's length from the files on disk. When the length changes Fusion resets
        GlobalIn to the comp's global start, GlobalOut to GlobalIn + length - 1, ClipTimeStart/End to the whole
        clip and HoldFirstFrame/HoldLastFrame to 0 (ayon-fusion load_sequence.py, update() docstring, commit
        7063f6d). The frames already loaded are dropped (a new clip is read again)."""
        clip = self._comp.MapPath(self._values["Clip"])
        m = _SEQ.match(clip)
        length = 1
        if m:
            first = int(m.group(2))
            while os.path.isfile(sequence_path(clip, first + length)):
                length += 1
        self._cache.clear()
        if length == self._length:
            return
        self._length = length
        self._values.update(GlobalIn=int(self._comp._attrs["COMPN_GlobalStart"]), ClipTimeStart=0,
                            ClipTimeEnd=length - 1, HoldFirstFrame=0, HoldLastFrame=0)
        self._values["GlobalOut"] = self._values["GlobalIn"] + length - 1

    def GetAttrs(self, name: str | None = None) -> Any:
        attrs = dict(self._attrs)
        if self.ID == "Loader":
            attrs["TOOLST_Clip_Name"] = {1: self._values["Clip"]}
        return attrs[name] if name else attrs

    def SetAttrs(self, attrs: dict[str, Any]) -> None:
        if self.ID == "Loader" and "TOOLB_PassThrough" in attrs:
            self._cache.clear()  # toggling pass-through makes a Loader read its files again (public refresh scripts)
        if "TOOLS_Name" in attrs:
            clash = self._comp.FindTool(attrs["TOOLS_Name"])
            if clash is not None and clash is not self:
                raise ValueError(f"a tool named {attrs['TOOLS_Name']} exists")
        self._attrs.update(attrs)

    def SetData(self, key: str, value: Any = None) -> None:
        self._data[key] = value

    def GetData(self, key: str) -> Any:
        return self._data.get(key)

    def Delete(self) -> None:
        self._comp._tools.remove(self)
        for tool in self._comp._tools:
            for name, out in list(tool._links.items()):
                if out is not None and out._tool is self:
                    tool._links[name] = None

    # pixels (tests/hosts/doubles/fusion_pixels.py)
    def _image(self, time: int) -> dict[str, np.ndarray] | None:
        return fusion_pixels.image(self, time)

    def _frame_path(self, time: int) -> str | None:
        """The file a Loader shows at comp time ``time`` (None outside GlobalIn..GlobalOut)."""
        v = self._values
        if not v["GlobalIn"] <= time <= v["GlobalOut"]:
            return None
        clip = self._comp.MapPath(v["Clip"])
        m = _SEQ.match(clip)
        frame = int(m.group(2)) + v["ClipTimeStart"] + (time - v["GlobalIn"]) if m else 0
        return sequence_path(clip, frame) if m else clip

    def _load(self, time: int) -> dict[str, np.ndarray] | None:
        return fusion_pixels.load(self, time)


class Comp:
    def __init__(self, fusion: Fusion, start: int = 0, end: int = 0, filename: str = ""):
        self._fusion = fusion
        self._tools: list[Tool] = []
        self._attrs = {"COMPN_RenderStart": float(start), "COMPN_RenderEnd": float(end),
                       "COMPN_GlobalStart": float(start), "COMPN_GlobalEnd": float(end), "COMPS_FileName": filename,
                       "COMPB_Locked": False}
        self._data: dict[str, Any] = {}
        self._locks = 0
        self._undo = 0
        self.CurrentTime = float(start)
        self.TIME_UNDEFINED = TIME_UNDEFINED
        self.dialogs: list[tuple[str, dict]] = []
        self._answer = lambda title, controls: {c[1]: c.get("Default") for c in controls.values()}
        self.renders: list[dict] = []

    # tools
    def AddTool(self, tool_id: str, *args: Any) -> Tool | None:
        """A new tool; nothing (None, Lua's nil) for a fuse that is not installed. Designed around: the glue also
        copes with an exception there."""
        if tool_id in fusion_tools.FUSES and tool_id not in self._fusion._fuses:
            return None
        n = 1
        while self.FindTool(f"{tool_id}{n}") is not None:
            n += 1
        tool = Tool(self, tool_id, f"{tool_id}{n}")
        if tool_id == "Loader":
            tool._values["GlobalIn"] = tool._values["GlobalOut"] = int(self._attrs["COMPN_GlobalStart"])
        self._tools.append(tool)
        return tool

    def FindTool(self, name: str) -> Tool | None:
        return next((t for t in self._tools if t.Name == name), None)

    def GetToolList(self, selected: bool = False, tool_id: str | None = None) -> dict[int, Tool]:
        tools = [t for t in self._tools if (not selected or t._attrs["TOOLB_Selected"])
                 and (tool_id is None or tool_id == t.ID)]
        return {i + 1: t for i, t in enumerate(tools)}

    @property
    def ActiveTool(self) -> Tool | None:
        sel = [t for t in self._tools if t._attrs["TOOLB_Selected"]]
        return sel[-1] if sel else None

    # comp state
    def GetAttrs(self, name: str | None = None) -> Any:
        return self._attrs[name] if name else dict(self._attrs)

    def SetAttrs(self, attrs: dict[str, Any]) -> None:
        self._attrs.update(attrs)

    def Lock(self) -> None:
        self._locks += 1
        self._attrs["COMPB_Locked"] = True

    def Unlock(self) -> None:
        self._locks -= 1
        self._attrs["COMPB_Locked"] = self._locks > 0

    def StartUndo(self, name: str) -> None:
        self._undo += 1

    def EndUndo(self, keep: bool = True) -> None:
        self._undo -= 1

    def SetData(self, key: str, value: Any = None) -> None:
        self._data[key] = value

    def GetData(self, key: str) -> Any:
        return self._data.get(key)

    def MapPath(self, path: str) -> str:
        if path.startswith("Comp:"):
            return os.path.join(os.path.dirname(self._attrs["COMPS_FileName"]), path[5:].lstrip("/\\"))
        return path

    def ReverseMapPath(self, path: str) -> str:
        return path

    def AskUser(self, title: str, controls: dict[int, dict]) -> dict[str, Any] | None:
        for entry in controls.values():
            if not {1, 2, "Name"} <= set(entry):
                raise ValueError(f"AskUser control without name/type/label: {entry}")
        self.dialogs.append((title, controls))
        return self._answer(title, controls)

    def Render(self, *args: Any) -> bool:
        """Render enabled Savers: ``Render({"Start": s, "End": e, "Wait": True})`` or positional (wait, start, end)."""
        if args and isinstance(args[0], dict):
            opts = args[0]
            start = opts.get("Start", self._attrs["COMPN_RenderStart"])
            end = opts.get("End", self._attrs["COMPN_RenderEnd"])
        else:
            start = args[1] if len(args) > 1 else self._attrs["COMPN_RenderStart"]
            end = args[2] if len(args) > 2 else self._attrs["COMPN_RenderEnd"]
        self.renders.append({"Start": start, "End": end})
        from nuke._pixels import write_exr  # the nuke double's EXR writer (same OpenImageIO call)

        for saver in [t for t in self._tools if t.ID == "Saver" and not t._attrs["TOOLB_PassThrough"]]:
            up = saver._links.get("Input")
            for time in range(int(start), int(end) + 1):
                image = up._tool._image(time) if up is not None else None
                if image is None:
                    return False
                path = sequence_path(self.MapPath(saver._values["Clip"]), time)
                if saver._values["CreateDir"]:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                write_exr(path, {"rgba.red": image["R"], "rgba.green": image["G"], "rgba.blue": image["B"],
                                 "rgba.alpha": image["A"]}, half=saver._values["OpenEXRFormat.Depth"] == 1)
        return True


class Fusion:
    def __init__(self) -> None:
        self._comps: list[Comp] = []
        self._ui: Any = None
        self._fuses: set[str] = set()  # test switch: fuses installed (fusion_tools.FUSES)
        self._has_ui = True  # test switch: False = no UIManager (fuscript from a shell)

    @property
    def UIManager(self) -> Any:
        """Fusion's UI builder (tests/hosts/doubles/fusion_ui.py); None without a UI."""
        if not self._has_ui:
            return None
        if self._ui is None:
            from fusion_ui import UIManager

            self._ui = UIManager()
        return self._ui

    def _new_comp(self, start: int = 0, end: int = 0, filename: str = "") -> Comp:
        comp = Comp(self, start, end, filename)
        self._comps.append(comp)
        return comp

    def GetCurrentComp(self) -> Comp | None:
        return self._comps[-1] if self._comps else None

    @property
    def CurrentComp(self) -> Comp | None:
        return self.GetCurrentComp()

    def GetVersion(self) -> dict[int, float]:
        return {1: 19.0}


class Resolve:
    """The Resolve half, as far as a comp script reaches it (fusionscript-stubs 21.0: Resolve.Fusion)."""

    def __init__(self, fusion: Fusion):
        self._fusion = fusion

    def Fusion(self) -> Fusion:
        return self._fusion

    def GetProductName(self) -> str:
        return "DaVinci Resolve"

    def GetVersionString(self) -> str:
        return "19.0.0"


_FUSION = Fusion()


def scriptapp(app: str, ip: str = "127.0.0.1", timeout: float = 0, uuid: str | None = None) -> Any:
    if app == "Fusion":
        return _FUSION
    if app == "Resolve":
        return Resolve(_FUSION)
    return None


def _reset() -> Fusion:
    global _FUSION
    _FUSION = Fusion()
    return _FUSION
