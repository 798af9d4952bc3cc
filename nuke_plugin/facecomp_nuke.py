"""The Python behind the FaceSwap gizmo: knobs -> worker requests -> EXR passes the gizmo's Read shows.

Stdlib-only (Python 3.7+, Nuke 13-17); the heavy work runs in `facecomp worker`, never in Nuke's process.
The host-independent half (finding facecomp, the worker client, frame helpers) is host_kit.

How a frame gets its passes:
* interactive: Render frame / Render range (and 'live') send the frames to a warm worker in a background thread;
  the UI never waits on the worker and the node's status line (and tile colour) shows the outcome.
* Write renders, locally or on the farm (``nuke -x -F 1001-1010 script.nk``): a beforeFrameRender callback
  renders each frame of every FaceSwap upstream of the Write through the worker before Nuke reads it.
  No render is ever started from inside a render or UI callback: the worker reads the upstream Read's files
  directly; when the input must be written first (processed input), the buttons do it, or on the farm the
  pre-render step ``nuke -t nuke_plugin/prerender.py script.nk 1001-1010``.
Every frame depends only on that frame, the model, the knobs and the track file, so any frame range gives the
same pixels. Pass files are named after a hash of everything that shapes them, so a changed knob never shows
stale pixels; a frame without passes shows the plate unchanged (the gizmo does the over itself).
"""

import atexit
import hashlib
import json
import os
import time

import facecomp_graph as graph
import nuke
from host_kit import client as fc
from host_kit import sequences
from host_kit.options import OptionTables

NODE_CLASS = graph.NODE_CLASS
# knob -> merge option sent to the renderer on top of the settings file (facecomp's names, as `facecomp merge`)
SETTING_KNOBS = (
    ("mode", "mode"),
    ("mask_mode", "mask_mode"),
    ("erode", "erode"),
    ("blur", "blur"),
    ("color_transfer", "color_transfer"),
    ("face_scale", "face_scale"),
    ("morph", "morph_factor"),
)
# render parameters read from knobs of the same name (choices published by the worker's 'render' table)
RENDER_CHOICE_KNOBS = ("provider", "face_type")
# every knob that changes the passes (their values name the pass files)
RENDER_KNOBS = ("model_file", "provider", "faces", "face_type", "xseg_model", "settings_file", "working_space",
                "track_file", "plate_source", "plate_file") + tuple(k for k, _ in SETTING_KNOBS)
PASSES = ("face", "facemask", "mattes", "crypto", "stmap")
LOAD_TIMEOUT = 300.0
OK_COLOUR, ERROR_COLOUR, WAIT_COLOUR = 0x7A3A8CFF, 0xCC3333FF, 0x8C8C3AFF

_POOL = fc.WorkerPool()
atexit.register(_POOL.close_all)
FAILED_SETUPS = {}  # node full name -> passes pattern (= its settings) whose render failed; cleared when a knob changes


class RenderJob(object):
    """Everything a render needs, read from the node in the main thread; run by any thread."""

    def __init__(self, node_name, command, requests, frame_timeout):
        self.node_name = node_name
        self.command = command
        self.requests = requests  # [(frames, params)]
        self.frame_timeout = frame_timeout

    @property
    def frames(self):
        """The node's frames of the job (the requests name plate frames: node frame - frame_offset)."""
        return [f + params["frame_offset"] for frames, params in self.requests for f in frames]


class NeedsInput(fc.FacecompHostError):
    """The node's input must be written before the worker can read it, and this is no place to render."""


def inner_node(node, name):
    """A node inside the gizmo. nuke.toNode("FaceSwap1.Passes") works for any group; Node.node() exists on Group
    only (types-nuke _nuke.pyi), and thisNode() is typed as a Node."""
    inner = nuke.toNode(node.fullName() + "." + name)
    if inner is None:
        raise fc.FacecompHostError("{} has no inner node {} (an old FaceSwap gizmo?)".format(node.fullName(), name))
    return inner


# ---- knobs -> settings
def _value(node, name, frame=None):
    """A knob's value at ``frame``; a dropdown gives its item name.

    Enumeration_Knob.getValueAt returns the item's index, only value() returns the name (Foundry's class docs:
    Enumeration_Knob derives from Array_Knob; types-nuke _nuke.pyi), so an animated dropdown goes through enumName.
    """
    knob = node[name]
    if frame is None or not knob.isAnimated():
        return knob.value()
    value = knob.getValueAt(frame)
    if knob.Class() == "Enumeration_Knob":
        return knob.enumName(int(value))
    return value


def settings_hash(node):
    """Short hash of everything that shapes the passes (knob scripts, incl. animation; model file; plate)."""
    parts = {name: node[name].toScript() for name in RENDER_KNOBS}
    model = node["model_file"].value()
    try:
        st = os.stat(model)
        parts["model_stat"] = [st.st_size, int(st.st_mtime)]
    except OSError:
        parts["model_stat"] = None
    read, offset = graph.upstream_read(node)
    own = graph.read_frame_offset(read) if read is not None else 0  # the Read's own offset/start at moves frames too
    held = [read["first"].value(), read["last"].value()] if read is not None else []  # which frames a hold shows
    parts["upstream"] = [graph.read_pattern(read), offset] + ([own] if own else []) + held \
        if read is not None else None
    parts["space"] = graph.working_space(node)
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def update_paths(node):
    """Point the passes (and the input cache) at the files of the current knob values."""
    passes = os.path.join(graph.cache_dir(node), "passes_" + settings_hash(node), node.name() + ".%04d.exr")
    passes = passes.replace("\\", "/")
    if node["passes_file"].value() != passes:
        node["passes_file"].setValue(passes)
    plate = graph.input_cache(node)
    if node["plate_cache"].value() != plate:
        node["plate_cache"].setValue(plate)
    return passes


def merge_overrides(node, frame=None):
    """The merge options of one frame from the knobs (their values at that frame)."""
    overrides = {}
    for knob, key in SETTING_KNOBS:
        value = _value(node, knob, frame)
        if isinstance(value, float) and knob != "morph":
            value = int(round(value))
        overrides[key] = value
    return overrides


def faces_choice(node):
    """The faces to replace: all, largest, or track face names (comma separated)."""
    text = node["faces"].value().strip()
    return ",".join(n.strip() for n in text.split(",") if n.strip()) or "all"


def apply_option_tables(node, tables):
    """Rebuild the dropdown lists and slider ranges from the tables the worker published (hello)."""
    for knob, key in SETTING_KNOBS:
        if key not in tables:
            continue
        if tables.choices(key) and node[knob].Class() == "Enumeration_Knob":
            current = node[knob].value()
            if node[knob].values() != tables.choices(key):
                node[knob].setValues(tables.choices(key))
                node[knob].setValue(current if current in tables.choices(key) else tables.default(key))
        low, high = tables.range(key)
        if low is not None and high is not None and hasattr(node[knob], "setRange"):
            node[knob].setRange(low, high)
        node[knob].setTooltip(tables.help(key))
    for knob in RENDER_CHOICE_KNOBS:
        if knob in tables and node[knob].values() != tables.choices(knob):
            current = node[knob].value()
            node[knob].setValues(tables.choices(knob))
            node[knob].setValue(current if current in tables.choices(knob) else tables.default(knob))


# ---- knobs -> requests
def _check_model(node):
    model = node["model_file"].value().strip()
    if not model:
        raise fc.FacecompHostError("no model: set the model knob to an exported .onnx/.dfm")
    if not os.path.isfile(model):
        raise fc.FacecompHostError("{}: model file not found".format(model))
    return model, fc.check_xseg_model(node["xseg_model"].value().strip())


def write_input(node, frames):
    """Write the node's input to its cache with the gizmo's PlateWrite (top level only: buttons, prerender.py).

    nuke.execute raises when the user cancels its progress bar (Foundry: nuke.execute docs); that is reported as
    'cancelled'. Proxy mode is switched off for the write: the worker needs full-resolution frames.
    """
    if nuke.executing():
        raise NeedsInput("{}: the input must be written first, which cannot happen during a render; press "
                         "Render range, or run nuke -t prerender.py on the farm".format(node.fullName()))
    root = nuke.root()
    proxy = bool(root["proxy"].value())
    if proxy:
        root["proxy"].setValue(False)
    try:
        for first, last in sequences.runs(frames):
            nuke.execute(inner_node(node, "PlateWrite"), first, last)
    except RuntimeError as exc:
        if "cancel" in str(exc).lower():
            raise fc.WorkerError("cancelled while writing the input", kind="cancelled") from None
        raise fc.FacecompHostError("writing the input failed: {}".format(exc)) from None
    finally:
        if proxy:
            root["proxy"].setValue(True)


def prepare(node, frames, force=False, may_write=True):
    """Read the node (main thread) into a RenderJob; writes the input first when needed and ``may_write``."""
    passes = update_paths(node)
    model, xseg = _check_model(node)
    command = fc.facecomp_command(node["facecomp_exe"].value())
    try:
        plate, from_input, file_frames = graph.plate_source(node, frames)
    except ValueError as exc:
        raise fc.FacecompHostError(str(exc)) from None
    todo = sorted(set(frames))
    if not force and node["reuse"].value():
        todo = [f for f in todo if not os.path.isfile(sequences.frame_path(passes, f))]
    if from_input and todo:
        missing = [f for f in todo if not os.path.isfile(sequences.frame_path(plate, f))]
        if force or missing:
            if not may_write:
                raise NeedsInput("the input of {} must be written first (processed input): press Render range, or "
                                 "run nuke -t prerender.py before the farm render".format(node.fullName()))
            write_input(node, todo if force else missing)
    base = dict(plate=plate, out=passes, model=model, provider=node["provider"].value(),
                track=node["track_file"].value().strip() or None, working_space=graph.working_space(node),
                settings=node["settings_file"].value().strip() or None, faces=faces_choice(node),
                passes=list(PASSES), xseg_model=xseg, face_type=node["face_type"].value() or None)
    requests = []
    for f in todo:  # the request names plate frames; the worker names the passes by node frame (plate + offset)
        overrides, offset = merge_overrides(node, f), f - file_frames[f]
        if requests and requests[-1][1]["overrides"] == overrides and requests[-1][1]["frame_offset"] == offset:
            requests[-1][0].append(file_frames[f])
        else:
            params = dict(base, overrides=overrides, frame_offset=offset)
            requests.append(([file_frames[f]], params))
    return RenderJob(node.fullName(), command, requests, float(node["frame_timeout"].value()))


def run_job(job, on_frame=None, should_cancel=None):
    """Render a job through the pooled worker (any thread; no Nuke calls). Returns a summary dict."""
    t0 = time.time()
    worker = _POOL.get(job.command)
    providers, faceless = [], []

    def progress(message):
        if message.get("faces") == 0:
            faceless.append(message.get("out_frame", message.get("frame")))
        if on_frame is not None:
            on_frame(message)

    for frames, params in job.requests:
        worker.load(params["model"], params["provider"], timeout=LOAD_TIMEOUT, xseg_model=params["xseg_model"],
                    face_type=params["face_type"])
        reply = worker.render(frame_timeout=job.frame_timeout, on_progress=progress, should_cancel=should_cancel,
                              frames=sequences.range_text(frames), **params)
        providers = reply.get("providers", providers)
    return {"frames": len(job.frames), "seconds": time.time() - t0, "providers": providers,
            "options": worker.info.get("options"), "faceless": sorted(faceless)}


# ---- status on the node
def set_status(node, text, error=False, waiting=False):
    """The status line and the tile colour (red: error, olive: waiting for a render, purple: fine)."""
    node["status"].setValue(text)
    node["tile_color"].setValue(ERROR_COLOUR if error else WAIT_COLOUR if waiting else OK_COLOUR)


def _describe(summary):
    where = ", ".join(p.replace("ExecutionProvider", "") for p in summary["providers"]) or "?"
    text = "rendered {} frame(s) in {:.1f} s on {}".format(summary["frames"], summary["seconds"], where)
    faceless = summary.get("faceless") or []
    if faceless:  # those frames show the plate unchanged: say why
        text += "; no face in {} frame(s) ({}): plate passes through".format(
            len(faceless), sequences.range_text(faceless))
    return text


def show_error(node, exc):
    """Show an error on the node and remember the failing settings (live mode does not retry them)."""
    if getattr(exc, "kind", None) == "cancelled":
        set_status(node, "cancelled: {}".format(exc))
        return
    FAILED_SETUPS[node.fullName()] = node["passes_file"].value()
    set_status(node, "ERROR: {}".format(exc), error=True)


def show_done(node, summary):
    set_status(node, _describe(summary))
    if summary.get("options"):
        apply_option_tables(node, OptionTables(summary["options"]))


def render_now(node, frames, force=True):
    """Render frames synchronously (scripts, prerender.py, self-test); raises FacecompHostError, shown on the node."""
    try:
        summary = run_job(prepare(node, frames, force))
    except fc.FacecompHostError as exc:
        show_error(node, exc)
        raise
    show_done(node, summary)
    inner_node(node, "Passes")["reload"].execute()
    return summary


# ---- Write renders (GUI and farm): init.py registers these for Write nodes
def before_frame_render():
    """beforeFrameRender callback: give every FaceSwap upstream of the Write its passes for this frame.

    Runs inside Nuke's render, so it never starts another render (a node whose input must be written first fails
    the frame with the pre-render step to run).
    """
    frame = nuke.frame()
    for node in graph.upstream_faceswaps(nuke.thisNode()):
        if node["disable"].value():
            continue
        try:
            job = prepare(node, [frame], may_write=False)
            if job.requests:
                show_done(node, run_job(job))
        except fc.FacecompHostError as exc:
            show_error(node, exc)
            raise RuntimeError("{} frame {}: {}".format(node.fullName(), frame, exc)) from None


def after_render():
    """afterRender callback: a render without UI (farm) stops its workers at its end; the GUI keeps them warm.

    The FaceSwap's own input writer (a Write inside the gizmo) ends many times during one render: ignored.
    """
    parent = nuke.thisNode().parent()
    if not nuke.GUI and (parent is None or parent.Class() != NODE_CLASS):
        _POOL.close_all()


def stop_all_workers():
    """Stop every facecomp worker of this session (they restart on the next render)."""
    _POOL.close_all()
