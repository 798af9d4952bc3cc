"""facecomp FaceSwap for DaVinci Resolve's Fusion page and Fusion Studio: a Comp script.

Install: copy this file into Fusion's Scripts/Comp folder (docs/hosts.md lists the folders) and set FACECOMP_HOME
to facecomp's folder (it holds host_kit and resolve_plugin, whose helper modules this script loads) and FACECOMP_EXE
to facecomp's executable; the script appears under Workspace > Scripts > Comp (Fusion Studio: Script menu).
Stdlib-only (Python 3.6+); the work runs in facecomp's own environment through `facecomp worker` (host_kit: the
same client the Nuke node uses).

For the current comp it:
1. finds the plate: the selected Loader (else the first Loader) of an image sequence, or a MediaIn or a Loader of
   a movie, whose frames are first written to EXR with a temporary Saver; else it asks for the plate files;
2. asks for the model and the merge settings (lists and ranges published by the worker; remembered in the comp);
3. optionally builds the track first (`facecomp track`, with the XSeg model when set), then renders the comp's
   render range through the worker: progress and Cancel in a window (facecomp_fusion_window.py; the console when
   there is no UIManager), the comp unlocked meanwhile; the frames land in a staging folder and replace the passes
   only when all are done (a cancelled run keeps the previous passes whole);
4. adds (or updates) the tools reading the passes (facecomp_fusion_passes.py): FaceSwap_face and FaceSwap_over (the
   face over the plate), one FaceSwap_matte_<face> per face of the track, FaceSwap_crypto (+ Psyop's Cryptomatte
   fuse when installed and the files allow it), FaceSwap_stmap + FaceSwap_stmap_apply (Texture) and, when asked,
   FaceSwap_merged; the comp's MediaOut/Saver fed by the plate is fed by FaceSwap_over (or FaceSwap_merged).
Errors are shown in a dialog (and printed to the console); nothing is left half-built.
"""

import contextlib
import json
import os
import shutil
import sys
import tempfile

DATA_KEY = "facecomp.faceswap"
CANCEL_KEY = "facecomp.cancel"
# the dialog's own fields; the merge and render options come from the worker's tables
LOCAL_DEFAULTS = {"model": "", "xseg_model": "", "working_space": "auto", "track": "", "settings": "", "out_dir": "",
                  "merged": 0, "frame_timeout": 120, "start_timeout": 300, "build_track": 0}
START_TIMEOUT = 300.0  # seconds for the worker to start and answer hello (a cold start loads ONNX Runtime)
DIALOG_MERGE = ("mode", "mask_mode", "erode", "blur", "color_transfer", "face_scale", "morph_factor")
DIALOG_RENDER = ("faces", "face_type", "provider")
PASSES = ("face", "facemask", "mattes", "crypto", "stmap")
# One-part pass files: Psyop's Cryptomatte fuse reads the EXR itself and refuses multi-part files
# (fusion/Modules/Lua/cryptomatte_utilities.lua, 1.4.0: "multipart EXR not supported").
EXR_LAYOUT = "single"


def _kit():
    """host_kit and this script's helper modules (resolve_plugin/), from beside this file (a checkout) or from
    $FACECOMP_HOME: only this file needs to be in Fusion's Scripts/Comp folder."""
    here = os.path.dirname(os.path.dirname(os.path.realpath(globals().get("__file__") or "x")))
    for base in (here, os.environ.get("FACECOMP_HOME", "")):
        if base and os.path.isfile(os.path.join(base, "host_kit", "client.py")):
            for folder in (os.path.join(base, "resolve_plugin"), base):
                if folder not in sys.path:
                    sys.path.insert(0, folder)
    try:
        import facecomp_fusion_passes
        import facecomp_fusion_window
        from host_kit import client, options, pending, sequences, track
    except ImportError:
        raise RuntimeError("facecomp's host_kit or resolve_plugin not found: set FACECOMP_HOME to facecomp's folder "
                           "(it holds host_kit/ and resolve_plugin/)") from None
    return client, options, pending, sequences, track, facecomp_fusion_passes, facecomp_fusion_window


fc, hk_options, pending, sequences, hk_track, passes_kit, window_kit = _kit()
FaceSwapError = fc.FacecompHostError
AUTO_PLACE = passes_kit.AUTO_PLACE
place_loader, refresh_loader, wire_passes = passes_kit.place_loader, passes_kit.refresh_loader, passes_kit.wire_passes
_tools, _name = passes_kit.tools, passes_kit.name


# ---- comp helpers
def _frame_range(comp):
    attrs = comp.GetAttrs()
    return int(attrs["COMPN_RenderStart"]), int(attrs["COMPN_RenderEnd"])


def _loader_plate(comp, loader, start, end):
    """Plate pattern and the file frames a Loader of an image sequence shows over start..end (None for movies)."""
    clip = comp.MapPath(loader.GetInput("Clip") or "")
    pattern, first = sequences.sequence_pattern(clip)
    if pattern is None:
        return None
    global_in, global_out = int(loader.GetInput("GlobalIn")), int(loader.GetInput("GlobalOut"))
    trim = int(loader.GetInput("ClipTimeStart") or 0)
    lo, hi = max(start, global_in), min(end, global_out)
    if hi < lo:
        return None
    return {"pattern": pattern, "frames": sequences.file_frames(first + trim, global_in, range(lo, hi + 1)),
            "global_in": lo, "tool": loader, "space": "auto"}


def _render_tool_to_exr(comp, tool, folder, start, end):
    """Write a tool's output (MediaIn, a movie Loader) to EXR frames start..end with a temporary Saver."""
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
    """The plate: the selected (else first) Loader of an image sequence, else a MediaIn or movie Loader, else None."""
    loaders = [t for t in _tools(comp, "Loader", selected=True) + _tools(comp, "Loader")
               if not _name(t).startswith("FaceSwap_")]
    for loader in loaders:
        plate = _loader_plate(comp, loader, start, end)
        if plate is not None:
            return plate
    # MediaIn (and a movie) delivers display-referred colour (Rec.709/sRGB-like); written to float EXR first
    for tool in _tools(comp, "MediaIn", selected=True) + _tools(comp, "MediaIn") + loaders:
        return {"pattern": None, "frames": list(range(start, end + 1)), "global_in": start, "tool": tool,
                "space": "sRGB - Texture"}
    return None


# ---- dialog
def ask_settings(comp, stored, tables, need_plate):
    """The FaceSwap dialog (comp.AskUser); controls built from the worker's option tables. None when cancelled."""
    def dropdown(key, label):
        options = tables.choices(key)
        default = float(options.index(stored[key])) if stored[key] in options else 0.0
        return (key, "Dropdown", label, {"Options": {i + 1: v for i, v in enumerate(options)}, "Default": default})

    def slider(key, label):
        low, high = tables.range(key)
        return (key, "Slider", label, {"Integer": tables.kind(key) == "int", "Min": low, "Max": high,
                                       "Default": stored[key]})

    def field(key, kind, label):
        return (key, kind, label, {"Default": stored[key]})

    controls = [field("model", "FileBrowse", "Model (.onnx/.dfm)")]
    for key in DIALOG_MERGE:
        label = tables.help(key)
        controls.append(dropdown(key, label) if tables.choices(key) else slider(key, label))
    controls += [field("faces", "Text", "Faces (all, largest, or track face names)"),
                 dropdown("face_type", "Face type of a .dfm"), dropdown("provider", "Execution provider"),
                 field("xseg_model", "FileBrowse", "XSeg model (.onnx or model folder, for the XSeg mask modes; optional)"),
                 field("working_space", "Text", "Working colour space (OCIO; auto = by file type)"),
                 field("track", "FileBrowse", "Track file (facecomp track; optional)"),
                 ("build_track", "Checkbox", "Build the track first (facecomp track; with XSeg masks when an XSeg "
                  "model is set)", {"Default": stored["build_track"]}),
                 field("settings", "FileBrowse", "Settings file (TOML/JSON; optional)"),
                 field("out_dir", "PathBrowse", "Folder for the passes"),
                 ("merged", "Checkbox", "Also write the merged frame (plain RGBA, no channel remapping)",
                  {"Default": stored["merged"]})]
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
            value = list(extra["Options"].values())[int(value)]
        elif kind == "Slider" and extra.get("Integer") or kind == "Checkbox":
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


# ---- render and build
def _requests(settings, plate, out):
    """The load and render requests of a FaceSwap run: (method name, timeout, parameters) each."""
    load = dict(model=settings["model"], provider=settings["provider"], xseg_model=settings["xseg_model"] or None,
                face_type=settings["face_type"])
    render = dict(plate=plate["pattern"], frames=sequences.range_text(plate["frames"]), out=out,
                  overrides={k: settings[k] for k in DIALOG_MERGE}, faces=settings["faces"] or "all",
                  passes=list(PASSES) + (["rgba"] if settings["merged"] else []), track=settings["track"] or None,
                  exr_layout=EXR_LAYOUT,
                  settings=settings["settings"] or None,
                  working_space=None if settings["working_space"] in ("", "auto") else settings["working_space"])
    return [("load", float(settings["start_timeout"]), load), ("render", float(settings["frame_timeout"]), render)]


def render_passes(comp, worker, settings, plate, out_pattern, log=print, window=None):
    """Render the plate's frames through the worker into a staging folder, then move them over the passes: a
    cancelled or failed render leaves the previous run's passes whole (never a mix of two runs).

    Progress and Cancel: in a window (``window`` = (ui, dispatcher) of Fusion's UIManager), else in the console;
    both also stop when the comp's data ``facecomp.cancel`` is set (facecomp_cancel.py).
    """
    frames = plate["frames"]
    comp.SetData(CANCEL_KEY, None)
    staging = os.path.join(os.path.dirname(out_pattern), "incoming")
    incoming = os.path.join(staging, os.path.basename(out_pattern))
    shutil.rmtree(staging, ignore_errors=True)
    done = [0]

    def on_progress(message):
        done[0] += 1
        why = ", no face: the plate passes through" if message.get("faces") == 0 else ""
        log("facecomp: frame {} ({} of {}{})".format(message.get("frame"), done[0], len(frames), why))

    def cancelled():
        return bool(comp.GetData(CANCEL_KEY))

    track = track_step(settings, plate)
    if track is not None:
        settings["track"] = track[1]  # the render and the matte Loaders use the new track
    requests = _requests(settings, plate, incoming)
    try:
        if window is not None:
            steps = [("loading the model...", _starter(worker, *requests[0])),
                     ("rendering {} frame(s)...".format(len(frames)), _starter(worker, *requests[1]))]
            if track is not None:
                steps.insert(0, ("building the track...", lambda: pending.PendingCommand(worker.command, track[0])))
            window_kit.ProgressWindow(window[0], window[1], "facecomp FaceSwap", len(frames), on_progress,
                                      cancelled).run(steps)
        else:
            if track is not None:
                fc.run_facecomp(worker.command, track[0], should_cancel=cancelled)
            (_, load_timeout, load), (_, frame_timeout, render) = requests
            worker.request("load", timeout=load_timeout, **load)
            worker.request("render", timeout=frame_timeout, on_progress=on_progress, should_cancel=cancelled,
                           **render)
        if track is not None:
            log("facecomp FaceSwap: " + hk_track.track_done_message(track[1], settings["xseg_model"]))
        for frame in frames:
            source = sequences.frame_path(incoming, frame)
            if os.path.isfile(source):
                os.replace(source, sequences.frame_path(out_pattern, frame))
    except fc.WorkerError as exc:
        if exc.kind == "cancelled":
            raise FaceSwapError("cancelled: {} (the passes of the previous run are kept)".format(exc)) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def track_step(settings, plate):
    """(arguments, track file) of the `facecomp track` run before the render when the dialog asks for it (over the
    plate's frames, with ``--xseg-model`` when an XSeg model is set), else None."""
    if not settings.get("build_track"):
        return None
    out = os.path.join(settings["out_dir"], "faceswap.track.json")
    space = settings["working_space"] if settings["working_space"] not in ("", "auto") else None
    provider = settings["provider"] if settings["provider"] != "auto" else None
    return hk_track.track_args(plate["pattern"], out, plate["frames"][0], plate["frames"][-1], space, provider,
                               settings["xseg_model"] or None), out


def _starter(worker, op, timeout, params):
    return lambda: fc.PendingRequest(worker, op, timeout=timeout, **params)


def _stored(comp, tables):
    stored = dict(tables.defaults("merge"))
    stored.update(tables.defaults("render"))
    stored.update(LOCAL_DEFAULTS)
    with contextlib.suppress(ValueError, TypeError):
        stored.update(json.loads(comp.GetData(DATA_KEY) or "{}"))
    if not stored["out_dir"]:
        comp_file = comp.GetAttrs().get("COMPS_FileName") or ""
        stored["out_dir"] = os.path.join(os.path.dirname(comp_file) if comp_file else tempfile.gettempdir(),
                                         "facecomp")
    return stored


def _plate_from_file(comp, settings, start, end, added):
    pattern, first = sequences.sequence_pattern(settings.get("plate", ""))
    if pattern is None or not os.path.isfile(pattern % first):
        raise FaceSwapError("no plate: select a Loader of an image sequence, or give its first frame")
    loader = comp.AddTool("Loader", AUTO_PLACE, AUTO_PLACE)
    added.append(loader)
    place_loader(loader, settings["plate"], start, end - start + 1)
    return {"pattern": pattern, "frames": sequences.file_frames(first, start, range(start, end + 1)),
            "global_in": start, "tool": loader, "space": "auto"}


def faceswap(comp, worker, log=print, preset=None, window=None):
    """Run the whole FaceSwap build on ``comp``; returns the tools added, or None when cancelled.

    ``preset``: settings to use instead of asking (the self-test); the rest are the remembered ones. ``window``:
    (ui, dispatcher) for the progress window, None for progress in the console.
    """
    start, end = _frame_range(comp)
    tables = hk_options.OptionTables.from_hello(worker.info)
    plate = find_plate(comp, start, end)
    if preset is not None:
        settings = dict(_stored(comp, tables), **preset)
    else:
        settings = ask_settings(comp, _stored(comp, tables), tables, plate is None)  # before any Lock(): dialogs
    if settings is None:
        return None
    if not os.path.isfile(settings["model"]):
        raise FaceSwapError("model file not found: {}".format(settings["model"] or "(none given)"))
    fc.check_xseg_model(settings["xseg_model"])
    added = []
    try:
        if plate is None:
            plate = _plate_from_file(comp, settings, start, end, added)
        elif plate["pattern"] is None:
            plate["pattern"] = _render_tool_to_exr(comp, plate["tool"], os.path.join(settings["out_dir"], "plate"),
                                                   start, end)
        comp.SetData(DATA_KEY, json.dumps({k: v for k, v in settings.items() if k != "plate"}))
        if settings["working_space"] in ("", "auto") and plate["space"] != "auto":
            settings["working_space"] = plate["space"]
        out_pattern = os.path.join(settings["out_dir"], "passes", "faceswap.%04d.exr")
        render_passes(comp, worker, settings, plate, out_pattern, log, window)  # comp unlocked: Fusion stays usable
        names = hk_track.face_names(settings["track"]) if settings["track"] else []
        comp.Lock()
        comp.StartUndo("facecomp FaceSwap")
        try:
            return wire_passes(comp, plate, sequences.frame_path(out_pattern, plate["frames"][0]), settings, names,
                               log)
        finally:
            comp.EndUndo(True)
            comp.Unlock()
    except BaseException:
        for tool in added:  # leave the comp as it was
            tool.Delete()
        raise


def _current_comp():
    main_globals = sys.modules["__main__"].__dict__
    comp = main_globals.get("comp")
    if comp is None and main_globals.get("fusion") is not None:
        comp = main_globals["fusion"].GetCurrentComp()
    if comp is None:
        # no stub: fusionscript-stubs 21.0.0 has neither BlackmagicFusion nor scriptapp, which Blackmagic's
        # Fusion Scripting Guide and Resolve's scripting README document (bmd.scriptapp("Fusion"))
        import BlackmagicFusion as bmd  # type: ignore[import-not-found]

        comp = bmd.scriptapp("Fusion").GetCurrentComp()
    return comp


def main(comp=None, log=print, window="auto"):
    """Entry point when Fusion runs the script (``comp`` is bound by Fusion) or when called with a comp.

    ``window``: "auto" shows progress and Cancel in a window when Fusion's UIManager is there (else the console),
    None keeps the console.
    """
    comp = comp if comp is not None else _current_comp()
    window = window_kit.ui_manager() if window == "auto" else window
    worker = None
    try:
        worker = fc.WorkerClient(fc.facecomp_command(), start_timeout=START_TIMEOUT)
        if window is not None:  # a cold start (ONNX Runtime, CUDA) can take a while: show it, and let it be cancelled
            window_kit.ProgressWindow(window[0], window[1], "facecomp FaceSwap", 0).run(
                [("starting the facecomp worker...", lambda: pending.PendingCall(worker.start, worker.kill))])
        else:
            worker.start()
        tools = faceswap(comp, worker, log, window=window)
    except (FaceSwapError, OSError, ValueError) as exc:
        show_error(comp, str(exc), log)
        return False
    finally:
        if worker is not None:
            worker.close()
    if tools is not None:
        log("facecomp FaceSwap: passes connected ({})".format(", ".join(_name(t) for t in tools)))
    return tools is not None


if __name__ == "__main__":
    main()
