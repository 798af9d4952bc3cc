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
import threading
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
_JOBS = {}  # node full name -> running background thread
_FAILED = {}  # node full name -> passes pattern (= its settings) whose render failed; cleared when a knob changes


class RenderJob(object):
    """Everything a render needs, read from the node in the main thread; run by any thread."""

    def __init__(self, node_name, command, requests, frame_timeout):
        self.node_name = node_name
        self.command = command
        self.requests = requests  # [(frames, params)]
        self.frame_timeout = frame_timeout

    @property
    def frames(self):
        return [f for frames, _ in self.requests for f in frames]


class NeedsInput(fc.FacecompHostError):
    """The node's input must be written before the worker can read it, and this is no place to render."""


def _inner(node, name):
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
    read = graph.upstream_read(node)
    parts["upstream"] = graph.read_pattern(read) if read is not None else None
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
    xseg = node["xseg_model"].value().strip()
    if xseg and not os.path.isfile(xseg):
        raise fc.FacecompHostError("{}: XSeg model file not found".format(xseg))
    return model, xseg or None


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
            nuke.execute(_inner(node, "PlateWrite"), first, last)
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
        plate, from_input = graph.plate_source(node, frames)
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
    for f in todo:
        overrides = merge_overrides(node, f)
        if requests and requests[-1][1]["overrides"] == overrides:
            requests[-1][0].append(f)
        else:
            params = dict(base, overrides=overrides)
            requests.append(([f], params))
    return RenderJob(node.fullName(), command, requests, float(node["frame_timeout"].value()))


def run_job(job, on_frame=None, should_cancel=None):
    """Render a job through the pooled worker (any thread; no Nuke calls). Returns a summary dict."""
    t0 = time.time()
    worker = _POOL.get(job.command)
    providers = []
    for frames, params in job.requests:
        worker.load(params["model"], params["provider"], timeout=LOAD_TIMEOUT, xseg_model=params["xseg_model"],
                    face_type=params["face_type"])
        reply = worker.render(frame_timeout=job.frame_timeout, on_progress=on_frame, should_cancel=should_cancel,
                              frames=sequences.range_text(frames), **params)
        providers = reply.get("providers", providers)
    return {"frames": len(job.frames), "seconds": time.time() - t0, "providers": providers,
            "options": worker.info.get("options")}


# ---- status on the node
def set_status(node, text, error=False, waiting=False):
    """The status line and the tile colour (red: error, olive: waiting for a render, purple: fine)."""
    node["status"].setValue(text)
    node["tile_color"].setValue(ERROR_COLOUR if error else WAIT_COLOUR if waiting else OK_COLOUR)


def _describe(summary):
    where = ", ".join(p.replace("ExecutionProvider", "") for p in summary["providers"]) or "?"
    return "rendered {} frame(s) in {:.1f} s on {}".format(summary["frames"], summary["seconds"], where)


def _fail(node, exc):
    """Show an error on the node and remember the failing settings (live mode does not retry them)."""
    if getattr(exc, "kind", None) == "cancelled":
        set_status(node, "cancelled: {}".format(exc))
        return
    _FAILED[node.fullName()] = node["passes_file"].value()
    set_status(node, "ERROR: {}".format(exc), error=True)


def _finished(node, summary):
    set_status(node, _describe(summary))
    if summary.get("options"):
        apply_option_tables(node, OptionTables(summary["options"]))


def render_now(node, frames, force=True):
    """Render frames synchronously (scripts, prerender.py, self-test); raises FacecompHostError, shown on the node."""
    try:
        summary = run_job(prepare(node, frames, force))
    except fc.FacecompHostError as exc:
        _fail(node, exc)
        raise
    _finished(node, summary)
    _inner(node, "Passes")["reload"].execute()
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
                _finished(node, run_job(job))
        except fc.FacecompHostError as exc:
            _fail(node, exc)
            raise RuntimeError("{} frame {}: {}".format(node.fullName(), frame, exc)) from None


def after_render():
    """afterRender callback: a render without UI (farm) stops its workers at its end; the GUI keeps them warm.

    The FaceSwap's own input writer (a Write inside the gizmo) ends many times during one render: ignored.
    """
    parent = nuke.thisNode().parent()
    if not nuke.GUI and (parent is None or parent.Class() != NODE_CLASS):
        _POOL.close_all()


# ---- interactive: buttons, live mode, knob changes
def busy(node):
    thread = _JOBS.get(node.fullName())
    return thread is not None and thread.is_alive()


def start_render(node, frames, force=True, may_write=True):
    """Render in a background thread; the node's status shows the outcome. Returns the thread (or None)."""
    if busy(node):
        set_status(node, "busy: a render of this node is running")
        return None
    try:
        job = prepare(node, frames, force, may_write)
    except fc.FacecompHostError as exc:
        _fail(node, exc)
        return None
    if not job.requests:
        set_status(node, "frames already rendered")
        return None
    set_status(node, "rendering {} frame(s)...".format(len(job.frames)), waiting=True)
    thread = threading.Thread(target=_background, args=(job,), name="facecomp " + job.node_name, daemon=True)
    _JOBS[job.node_name] = thread
    thread.start()
    return thread


def _background(job):
    task = nuke.ProgressTask("FaceSwap {}".format(job.node_name))
    total, done = len(job.frames), [0]

    def on_frame(message):
        done[0] += 1
        task.setProgress(int(100 * done[0] / max(total, 1)))
        task.setMessage("frame {}".format(message.get("frame")))

    summary, error = None, None
    try:
        summary = run_job(job, on_frame, task.isCancelled)
    except fc.FacecompHostError as exc:
        error = exc
    task.setProgress(100)
    nuke.executeInMainThread(_finish, (job.node_name, summary, error))


def _finish(node_name, summary, error):
    _JOBS.pop(node_name, None)
    node = nuke.toNode(node_name)
    if node is None:
        return
    if error is not None:
        _fail(node, error)
    else:
        _finished(node, summary)
    _inner(node, "Passes")["reload"].execute()


def render_frame_button():
    return start_render(nuke.thisNode(), [nuke.frame()])


def render_range_button():
    root = nuke.root()
    first, last = int(root["first_frame"].value()), int(root["last_frame"].value())
    return start_render(nuke.thisNode(), list(range(first, last + 1)))


def stop_all_workers():
    """Stop every facecomp worker of this session (they restart on the next render)."""
    _POOL.close_all()


def stop_worker_button():
    stop_all_workers()
    set_status(nuke.thisNode(), "worker stopped")


def update_ui():
    """updateUI callback (GUI, runs during idle on every change): cheap checks only, never a synchronous render.

    Live mode starts a background render of the viewed frame when its passes are missing, unless these settings
    failed before (remembered until a knob changes) or the input would have to be written first. Without live
    mode the status says that the frame shows the plate unchanged.
    """
    node = nuke.thisNode()
    if busy(node):
        return None
    frame = nuke.frame()
    passes = node["passes_file"].value()
    if not passes or os.path.isfile(sequences.frame_path(passes, frame)) or _FAILED.get(node.fullName()) == passes:
        return None
    if not node["live"].value():
        if not node["status"].value().startswith(("ERROR", "rendering")):
            set_status(node, "frame {} not rendered: the plate passes through".format(frame), waiting=True)
        return None
    return start_render(node, [frame], force=False, may_write=False)


def make_track_button():
    """Run `facecomp track` on the shot's plate (in the background) and fill in the track knob.

    The track covers the script's frame range (`track --frames first-last`); when the plate comes from the
    input, that range is written to the cache first (a button press: top level, so Nuke may render).
    """
    node = nuke.thisNode()
    if busy(node):
        set_status(node, "busy: a render of this node is running")
        return None
    root = nuke.root()
    frames = list(range(int(root["first_frame"].value()), int(root["last_frame"].value()) + 1))
    try:
        command = fc.facecomp_command(node["facecomp_exe"].value())
        update_paths(node)
        plate, from_input = graph.plate_source(node, frames)
        if from_input:
            write_input(node, frames)
    except (fc.FacecompHostError, ValueError) as exc:
        _fail(node, exc)
        return None
    out = os.path.join(graph.cache_dir(node), node.name() + ".track.json").replace("\\", "/")
    args = ["track", plate, "--out", out, "--frames", "{}-{}".format(frames[0], frames[-1]),
            "--working-space", graph.working_space(node), "--provider", node["provider"].value()]
    name = node.fullName()
    set_status(node, "building the track...", waiting=True)

    def work():
        task = nuke.ProgressTask("facecomp track {}".format(name))
        error = None
        try:
            fc.run_facecomp(command, args, should_cancel=task.isCancelled)
        except fc.FacecompHostError as exc:
            error = str(exc)
        task.setProgress(100)
        nuke.executeInMainThread(_track_done, (name, out, error))

    thread = threading.Thread(target=work, name="facecomp track " + name, daemon=True)
    _JOBS[name] = thread
    thread.start()
    return thread


def _track_done(node_name, out, error):
    _JOBS.pop(node_name, None)
    node = nuke.toNode(node_name)
    if node is None:
        return
    if error:
        set_status(node, "ERROR: track: {}".format(error), error=True)
    else:
        node["track_file"].setValue(out)
        set_status(node, "track written: {}".format(out))


def refresh_faces(node):
    """Fill the face picker with the track's face names and declare their matte layers (facemask_<name>)."""
    from host_kit.track import face_names

    names = []
    track = node["track_file"].value().strip()
    if track and os.path.isfile(track):
        try:
            names = face_names(track)
        except ValueError as exc:
            set_status(node, "ERROR: {}".format(exc), error=True)
    node["face_pick"].setValues(["all", "largest"] + names)
    layers = graph.declare_face_layers(names)
    for i, knob in enumerate(("channels", "channels2", "channels3", "channels4")):
        _inner(node, "CopyMattes")[knob].setValue(layers[i] if i < len(layers) else "none")
    return names


def on_create():
    """onCreate of the gizmo: pass paths and face list. The cache folder is not stored: it is resolved at each
    use (an unsaved script must not keep a temp folder for good)."""
    node = nuke.thisNode()
    update_paths(node)
    refresh_faces(node)


def knob_changed():
    """knobChanged of the gizmo: keep the pass paths in step with the knobs (cheap, idempotent)."""
    node, knob = nuke.thisNode(), nuke.thisKnob()
    name = knob.name()
    if name == "face_pick":
        picked = knob.value()
        current = [n for n in faces_choice(node).split(",") if n not in ("all", "largest")]
        node["faces"].setValue(picked if picked in ("all", "largest") else ",".join(dict.fromkeys(current + [picked])))
    if name == "track_file":
        refresh_faces(node)
    if name in RENDER_KNOBS or name in ("inputChange", "cache_dir", "showPanel", "name"):
        _FAILED.pop(node.fullName(), None)
        update_paths(node)
