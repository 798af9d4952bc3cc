"""facecomp FaceSwap for DaVinci Resolve's Fusion page and Fusion Studio: a Comp script.

Install: copy this file into Fusion's Scripts/Comp folder (docs/hosts.md lists the folders); it appears under
Workspace > Scripts > Comp (Fusion Studio: Script menu). Stdlib-only (Python 3.6+); the work runs in
facecomp's own environment through `facecomp render` (set FACECOMP_EXE, or put facecomp on PATH).

For the current comp it:
1. finds the plate: the selected Loader (else the first Loader) of an image sequence, or a MediaIn, whose
   frames are first written to EXR with a temporary Saver; else it asks for the plate files;
2. asks for the model and the merge settings (remembered in the comp for the next run);
3. runs `facecomp render` for the comp's render range (stateless: any range gives the same frames);
4. adds (or updates) FaceSwap_merged (Loader: rgba = merged plate), FaceSwap_face (Loader: face.R/G/B
   with mask.A as alpha, a premultiplied face) and FaceSwap_over (Merge of the face over the plate), and
   feeds the comp's MediaOut from FaceSwap_merged when it was fed by the plate.
Errors are shown in a dialog (and printed to the console); nothing is left half-built.
"""

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
MASK_MODES = ("full", "dst", "learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst",
              "XSeg-prd", "XSeg-dst", "XSeg-prd*XSeg-dst", "learned-prd*learned-dst*XSeg-prd*XSeg-dst")
COLOR_TRANSFERS = ("none", "rct", "lct", "mkl", "mkl-m", "idt", "idt-m", "sot-m", "mix-m")
PROVIDERS = ("auto", "cpu", "cuda", "tensorrt", "directml", "coreml")
FACES = ("largest", "all")
DEFAULTS = {"model": "", "mode": "overlay", "mask_mode": "dst", "erode": 0, "blur": 0, "color_transfer": "none",
            "face_scale": 0, "morph_factor": 1.0, "faces": "largest", "provider": "auto", "working_space": "auto",
            "track": "", "settings": "", "out_dir": "", "frame_timeout": 120}
DATA_KEY = "facecomp.faceswap"
AUTO_PLACE = -32768
SEQUENCE = re.compile(r"^(.*?)(\d+)(\.[A-Za-z0-9]+)$")


class FaceSwapError(RuntimeError):
    """A problem to show the compositor (one message)."""


# ---- facecomp
def facecomp_exe():
    """FACECOMP_EXE (a path or a command line), else facecomp on PATH, as an argument list."""
    value = os.environ.get("FACECOMP_EXE", "").strip()
    if not value:
        found = shutil.which("facecomp")
        if not found:
            raise FaceSwapError("facecomp not found: set FACECOMP_EXE to facecomp's executable")
        return [found]
    if os.path.isfile(value):
        return [value]
    words = shlex.split(value, posix=os.name != "nt")
    if not words or not (os.path.isfile(words[0]) or shutil.which(words[0])):
        raise FaceSwapError("FACECOMP_EXE does not name an executable: {}".format(value))
    return words


def run_render(command, args, outputs, frame_timeout=120.0, log=print):
    """Run `facecomp render`; fail when no new output appears for ``frame_timeout`` s (a hung render)."""
    log("facecomp: " + " ".join(command + args))
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command + args, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                                creationflags=0x08000000 if os.name == "nt" else 0)
        done, last_change = 0, time.time()
        while proc.poll() is None:
            now_done = sum(1 for path in outputs if os.path.isfile(path))
            if now_done != done:
                done, last_change = now_done, time.time()
                log("facecomp: {} of {} frames".format(done, len(outputs)))
            if time.time() - last_change > frame_timeout:
                proc.kill()
                proc.wait()
                raise FaceSwapError("facecomp render wrote nothing for {:g} s and was stopped".format(frame_timeout))
            time.sleep(0.2)
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    if proc.returncode:
        lines = [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]
        raise FaceSwapError(lines[-1] if lines else "facecomp render failed (exit code {})".format(proc.returncode))
    missing = [path for path in outputs if not os.path.isfile(path)]
    if missing:
        raise FaceSwapError("facecomp render ended without writing {} of {} frames (first: {})".format(
            len(missing), len(outputs), missing[0]))


# ---- comp helpers
def _tools(comp, tool_id=None, selected=False):
    found = comp.GetToolList(selected, tool_id) if tool_id else comp.GetToolList(selected)
    return list((found or {}).values())


def _name(tool):
    return tool.GetAttrs()["TOOLS_Name"]


def _frame_range(comp):
    attrs = comp.GetAttrs()
    return int(attrs["COMPN_RenderStart"]), int(attrs["COMPN_RenderEnd"])


def sequence_pattern(path):
    """(printf pattern, frame) of a numbered file: /a/plate.1001.exr -> (/a/plate.%04d.exr, 1001)."""
    m = SEQUENCE.match(path)
    if not m:
        return None, None
    return "{}%0{}d{}".format(m.group(1), len(m.group(2)), m.group(3)), int(m.group(2))


def _loader_plate(comp, loader, start, end):
    """Plate pattern and the file frames a Loader of a sequence shows over the comp range start..end."""
    clip = comp.MapPath(loader.GetInput("Clip") or "")
    pattern, first = sequence_pattern(clip)
    if pattern is None:
        return None
    global_in, global_out = int(loader.GetInput("GlobalIn")), int(loader.GetInput("GlobalOut"))
    trim = int(loader.GetInput("ClipTimeStart") or 0)
    lo, hi = max(start, global_in), min(end, global_out)
    if hi < lo:
        return None
    return {"pattern": pattern, "frames": [first + trim + (t - global_in) for t in range(lo, hi + 1)],
            "global_in": lo, "tool": loader, "space": "auto"}


def _render_tool_to_exr(comp, tool, folder, start, end):
    """Write a tool's output (e.g. MediaIn) to EXR frames start..end with a temporary Saver."""
    saver = comp.AddTool("Saver", AUTO_PLACE, AUTO_PLACE)
    others = [s for s in _tools(comp, "Saver") if _name(s) != _name(saver) and not s.GetAttrs()["TOOLB_PassThrough"]]
    try:
        saver.SetInput("Clip", os.path.join(folder, "plate.0000.exr"))
        saver.SetInput("OutputFormat", "OpenEXRFormat")
        saver.SetInput("OpenEXRFormat.Depth", 1)  # half float
        saver.SetInput("CreateDir", 1)
        saver.ConnectInput("Input", tool)
        for other in others:
            other.SetAttrs({"TOOLB_PassThrough": True})
        ok = comp.Render({"Start": start, "End": end, "Wait": True, "RenderFlags": 524288})
    finally:
        for other in others:
            other.SetAttrs({"TOOLB_PassThrough": False})
        saver.Delete()
    pattern = os.path.join(folder, "plate.%04d.exr")
    missing = [f for f in range(start, end + 1) if not os.path.isfile(pattern % f)]
    if not ok or missing:
        raise FaceSwapError("Fusion could not write the plate frames of {} to {}".format(_name(tool), folder))
    return pattern


def find_plate(comp, start, end):
    """The plate source: the selected (else first) Loader of a sequence, else a MediaIn, else None."""
    loaders = _tools(comp, "Loader", selected=True) + _tools(comp, "Loader")
    for loader in loaders:
        if not _name(loader).startswith("FaceSwap_"):
            plate = _loader_plate(comp, loader, start, end)
            if plate is not None:
                return plate
    media = _tools(comp, "MediaIn", selected=True) + _tools(comp, "MediaIn")
    if media:
        # MediaIn delivers the timeline's display-referred colour (Rec.709/sRGB-like); written to float EXR first
        return {"pattern": None, "frames": list(range(start, end + 1)), "global_in": start, "tool": media[0],
                "space": "sRGB - Texture"}
    return None


# ---- dialog
def _dropdown(options):
    return {i + 1: v for i, v in enumerate(options)}


def ask_settings(comp, stored, need_plate):
    """The FaceSwap dialog (comp.AskUser); returns the settings dict or None when cancelled."""
    def pick(key, options):
        return float(options.index(stored[key])) if stored[key] in options else 0.0

    def dropdown(key, label, options):
        return (key, "Dropdown", label, {"Options": _dropdown(options), "Default": pick(key, options)})

    def slider(key, label, low, high, integer=True):
        return (key, "Slider", label, {"Integer": integer, "Min": low, "Max": high, "Default": stored[key]})

    def field(key, kind, label):
        return (key, kind, label, {"Default": stored[key]})

    controls = [
        field("model", "FileBrowse", "Model (.onnx/.dfm)"),
        dropdown("mode", "Merge mode", MODES),
        dropdown("mask_mode", "Mask mode", MASK_MODES),
        slider("erode", "Erode", -400, 400),
        slider("blur", "Blur", 0, 400),
        dropdown("color_transfer", "Colour transfer", COLOR_TRANSFERS),
        slider("face_scale", "Face scale", -50, 50),
        slider("morph_factor", "AMP morph", 0.0, 1.0, integer=False),
        dropdown("faces", "Faces", FACES),
        dropdown("provider", "Execution provider", PROVIDERS),
        field("working_space", "Text", "Working colour space (OCIO; auto = by file type)"),
        field("track", "FileBrowse", "Track file (facecomp track; optional)"),
        field("settings", "FileBrowse", "Settings file (TOML/JSON; optional)"),
        field("out_dir", "PathBrowse", "Folder for the passes"),
    ]
    if need_plate:
        controls.insert(0, ("plate", "FileBrowse", "Plate (first frame of the sequence)", {"Default": ""}))
    table = {}
    for i, (key, kind, label, extra) in enumerate(controls):
        entry = {1: key, 2: kind, "Name": label}
        entry.update(extra)
        table[i + 1] = entry
    answer = comp.AskUser("facecomp FaceSwap", table)
    if answer is None:
        return None
    settings = dict(stored)
    for key, kind, _, extra in controls:
        value = answer.get(key, extra.get("Default"))
        if kind == "Dropdown":
            options = list(extra["Options"].values())
            value = options[int(value)]
        elif kind == "Slider" and extra.get("Integer"):
            value = int(round(float(value)))
        elif kind == "Slider":
            value = float(value)
        else:
            value = str(value or "").strip()
        settings[key] = value
    return settings


def show_error(comp, message, log=print):
    log("facecomp FaceSwap: ERROR: " + message)
    comp.AskUser("facecomp FaceSwap: error", {1: {1: "error", 2: "Text", "Name": "Error", "Default": message,
                                                 "ReadOnly": True, "Lines": 4, "Wrap": True}})


# ---- build
def render_args(settings, plate, frames, out_pattern):
    args = ["render", "--model", settings["model"], "--plate", plate, "--frames",
            "{}-{}".format(frames[0], frames[-1]), "--out", out_pattern, "--provider", settings["provider"],
            "--face-select", settings["faces"], "--mode", settings["mode"], "--mask-mode", settings["mask_mode"],
            "--erode", str(settings["erode"]), "--blur", str(settings["blur"]), "--color-transfer",
            settings["color_transfer"], "--face-scale", str(settings["face_scale"]), "--morph-factor",
            str(settings["morph_factor"])]
    if settings["working_space"] not in ("", "auto"):
        args += ["--working-space", settings["working_space"]]
    for key in ("track", "settings"):
        if settings[key]:
            args += ["--" + key, settings[key]]
    return args


def _tool(comp, tool_id, name, x, y):
    tool = comp.FindTool(name)
    if tool is None or tool.GetAttrs()["TOOLS_RegID"] != tool_id:
        tool = comp.AddTool(tool_id, x, y)
        tool.SetAttrs({"TOOLS_Name": name, "TOOLB_NameSet": True})
    return tool


def wire_passes(comp, plate, first_pass):
    """Add or update the FaceSwap tools reading the passes and connect them for the compositor."""
    pos = AUTO_PLACE
    merged = _tool(comp, "Loader", "FaceSwap_merged", pos, pos)
    face = _tool(comp, "Loader", "FaceSwap_face", pos, pos)
    for loader in (merged, face):
        loader.SetInput("Clip", comp.ReverseMapPath(first_pass))
        loader.SetInput("GlobalIn", plate["global_in"])
        loader.SetInput("GlobalOut", plate["global_in"] + len(plate["frames"]) - 1)
        loader.SetInput("ClipTimeStart", 0)
        loader.SetInput("ClipTimeEnd", len(plate["frames"]) - 1)
    for channel, name in (("Red", "face.R"), ("Green", "face.G"), ("Blue", "face.B"), ("Alpha", "mask.A")):
        face.SetInput("Clip1.OpenEXRFormat.{}Name".format(channel), name)
    over = _tool(comp, "Merge", "FaceSwap_over", pos, pos)
    over.ConnectInput("Background", plate["tool"])
    over.ConnectInput("Foreground", face)
    for out in _tools(comp, "MediaOut") + _tools(comp, "Saver"):
        source = out.Input.GetConnectedOutput()
        if source is not None and _name(source.GetTool()) == _name(plate["tool"]):
            out.ConnectInput("Input", merged)
    return merged, face, over


def faceswap(comp, log=print):
    """Run the whole FaceSwap build on ``comp``; returns the tools added, or None when cancelled."""
    start, end = _frame_range(comp)
    stored = dict(DEFAULTS)
    with contextlib.suppress(ValueError, TypeError):
        stored.update(json.loads(comp.GetData(DATA_KEY) or "{}"))
    comp_file = comp.GetAttrs().get("COMPS_FileName") or ""
    if not stored["out_dir"]:
        base = os.path.dirname(comp_file) if comp_file else tempfile.gettempdir()
        stored["out_dir"] = os.path.join(base, "facecomp")
    command = facecomp_exe()
    plate = find_plate(comp, start, end)
    settings = ask_settings(comp, stored, plate is None)  # before Lock(): a locked comp shows no dialogs
    if settings is None:
        return None
    if not settings["model"] or not os.path.isfile(settings["model"]):
        raise FaceSwapError("model file not found: {}".format(settings["model"] or "(none given)"))
    comp.Lock()
    comp.StartUndo("facecomp FaceSwap")
    added = []
    try:
        if plate is None:
            pattern, first = sequence_pattern(settings.get("plate", ""))
            if pattern is None or not os.path.isfile(pattern % first):
                raise FaceSwapError("no plate: select a Loader of an image sequence, or give its first frame")
            loader = comp.AddTool("Loader", AUTO_PLACE, AUTO_PLACE)
            added.append(loader)
            loader.SetInput("Clip", settings["plate"])
            loader.SetInput("GlobalIn", start)
            plate = {"pattern": pattern, "frames": [first + t - start for t in range(start, end + 1)],
                     "global_in": start, "tool": loader, "space": "auto"}
        elif plate["pattern"] is None:
            plate["pattern"] = _render_tool_to_exr(comp, plate["tool"], os.path.join(settings["out_dir"], "plate"),
                                                   start, end)
        comp.SetData(DATA_KEY, json.dumps({k: v for k, v in settings.items() if k in DEFAULTS}))
        if settings["working_space"] in ("", "auto") and plate["space"] != "auto":
            settings["working_space"] = plate["space"]
        out_pattern = os.path.join(settings["out_dir"], "passes", "faceswap.%04d.exr")
        frames = plate["frames"]
        outputs = [out_pattern % f for f in frames]
        for path in outputs:
            if os.path.isfile(path):
                os.remove(path)
        run_render(command, render_args(settings, plate["pattern"], frames, out_pattern), outputs,
                   float(settings["frame_timeout"]), log)
        return wire_passes(comp, plate, outputs[0])
    except BaseException:
        for tool in added:  # leave the comp as it was
            tool.Delete()
        raise
    finally:
        comp.EndUndo(True)
        comp.Unlock()


def main(comp=None, log=print):
    """Entry point when Fusion runs the script (``comp`` is bound by Fusion) or when called with a comp."""
    if comp is None:
        main_globals = sys.modules["__main__"].__dict__
        comp = main_globals.get("comp")
        if comp is None and main_globals.get("fusion") is not None:
            comp = main_globals["fusion"].GetCurrentComp()
        if comp is None:
            import BlackmagicFusion as bmd

            comp = bmd.scriptapp("Fusion").GetCurrentComp()
    try:
        tools = faceswap(comp, log)
    except (FaceSwapError, OSError) as exc:
        show_error(comp, str(exc), log)
        return False
    if tools is not None:
        log("facecomp FaceSwap: passes connected ({})".format(", ".join(_name(t) for t in tools)))
    return tools is not None


if __name__ == "__main__":
    main()
