"""The Python behind the FaceSwap gizmo: knobs -> worker requests -> EXR passes the gizmo's Read shows.

Stdlib-only (Python 3.7+, Nuke 13-17); the heavy work runs in `facecomp worker`, never in Nuke's process.

How a frame gets its passes:
* interactive: the Render frame / Render range buttons (and 'live') send the frames to a warm worker in
  a background thread; the UI never waits on the worker, and the node's status line shows the outcome.
* Write renders, locally or on the farm (``nuke -x -F 1001-1010 script.nk``): a beforeFrameRender
  callback (registered by init.py) renders each frame of every FaceSwap upstream of the Write before
  Nuke reads it, and fails the frame with the worker's message when that goes wrong.
Every frame depends only on that frame, the model, the knobs and the track file, so any frame range
gives the same pixels. Pass files are named after a hash of everything that shapes them, so a changed
knob never shows stale pixels.
"""

import atexit
import hashlib
import json
import os
import re
import tempfile
import threading
import time

import facecomp_client as fc
import nuke

NODE_CLASS = "FaceSwap"
CACHE_ENV = "FACECOMP_CACHE_DIR"
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
# every knob that changes the passes (their values name the pass files)
RENDER_KNOBS = ("model_file", "provider", "face_select", "face_index", "settings_file", "working_space",
                "track_file", "plate_source", "plate_file") + tuple(k for k, _ in SETTING_KNOBS)
# Nuke's own colour-space names -> names of facecomp's OCIO config
NUKE_SPACES = {"linear": "Linear Rec.709 (sRGB)", "srgb": "sRGB - Texture"}
LOAD_TIMEOUT = 300.0
OK_COLOUR, ERROR_COLOUR = 0x7A3A8CFF, 0xCC3333FF

_POOL = fc.WorkerPool()
atexit.register(_POOL.close_all)
_JOBS = {}  # node full name -> running background thread
_FAILED = set()  # (node, passes pattern, frame) that failed in live mode; not retried until knobs change


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


# ---- knobs -> paths and settings
def _value(node, name, frame=None):
    knob = node[name]
    if frame is not None and knob.isAnimated():
        return knob.getValueAt(frame)
    return knob.value()


def cache_dir(node):
    """The node's cache folder: its knob, else $FACECOMP_CACHE_DIR, else beside the script (or temp)."""
    value = node["cache_dir"].value().strip()
    if value:
        return value
    base = os.environ.get(CACHE_ENV)
    if not base:
        script = nuke.root()["name"].value()
        base = os.path.join(os.path.dirname(script) if script else tempfile.gettempdir(), "facecomp")
    return os.path.join(base, node.name())


def working_space(node):
    """OCIO name of the plate's and the passes' colour space (auto: the script's working space)."""
    value = node["working_space"].value().strip()
    if not value or value == "auto":
        try:
            value = nuke.root()["workingSpaceLUT"].value()
        except (NameError, TypeError, AttributeError):
            value = ""
    value = value or "linear"
    return NUKE_SPACES.get(value.lower(), value)


def _upstream_read(node):
    """The Read feeding the node (through Dots and NoOps), or None."""
    source = node.input(0)
    while source is not None and source.Class() in ("Dot", "NoOp"):
        source = source.input(0)
    return source if source is not None and source.Class() == "Read" else None


def _read_pattern(read):
    """The Read's file pattern with its Tcl expressions evaluated, frame pattern kept (``plate.%04d.exr``)."""
    path = read["file"].value()
    if "[" in path:
        path = nuke.filename(read) or path
    return path


def _read_gives_working_space(read, node, frames):
    """True when the worker can read the Read's files as they are: EXR, working space, no retime."""
    path = _read_pattern(read)
    if not path.lower().endswith(".exr"):
        return False
    if "frame" in read.knobs() and str(read["frame"].value()).strip():
        return False
    first, last = int(read["first"].value()), int(read["last"].value())
    if any(f < first or f > last for f in frames):
        return False
    if read["raw"].value():
        return True
    space = str(read["colorspace"].value())
    return space.startswith("default") or NUKE_SPACES.get(space.lower(), space) in (
        working_space(node), "scene_linear")


def plate_source(node, frames):
    """(plate pattern the worker reads, True when the input must be written there first)."""
    mode = node["plate_source"].value()
    if mode == "file":
        plate = node["plate_file"].value().strip()
        if not plate:
            raise fc.FacecompHostError("plate from = file, but the plate file knob is empty")
        return plate, False
    if mode == "auto":
        read = _upstream_read(node)
        if read is not None and _read_gives_working_space(read, node, frames):
            return _read_pattern(read), False
    return node["plate_cache"].value() or os.path.join(cache_dir(node), "input", node.name() + ".%04d.exr"), True


def settings_hash(node):
    """Short hash of everything that shapes the passes (knob scripts, incl. animation; model file; plate)."""
    parts = {name: node[name].toScript() for name in RENDER_KNOBS}
    model = node["model_file"].value()
    try:
        st = os.stat(model)
        parts["model_stat"] = [st.st_size, int(st.st_mtime)]
    except OSError:
        parts["model_stat"] = None
    read = _upstream_read(node)
    parts["upstream"] = _read_pattern(read) if read is not None else None
    parts["space"] = working_space(node)
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def update_paths(node):
    """Point the passes (and the input cache) at the files of the current knob values."""
    folder = cache_dir(node)
    passes = os.path.join(folder, "passes_" + settings_hash(node), node.name() + ".%04d.exr").replace("\\", "/")
    plate = os.path.join(folder, "input", node.name() + ".%04d.exr").replace("\\", "/")
    if node["passes_file"].value() != passes:
        node["passes_file"].setValue(passes)
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


def face_select(node, frame=None):
    select = node["face_select"].value()
    return int(_value(node, "face_index", frame)) if select == "index" else select


def frame_path(pattern, frame):
    """A pattern with %04d or #### filled with a frame number."""
    pattern = re.sub(r"%(\d*)d", lambda m: str(frame).zfill(int(m.group(1) or 0)), pattern)
    return re.sub(r"#+", lambda m: str(frame).zfill(len(m.group(0))), pattern)


def _runs(frames):
    """Consecutive runs of sorted frames: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs = []
    for f in sorted(set(frames)):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return [tuple(r) for r in runs]


def prepare(node, frames, force=False):
    """Read the node (main thread) and write the input plate where needed; returns a RenderJob."""
    passes = update_paths(node)
    model = node["model_file"].value().strip()
    if not model:
        raise fc.FacecompHostError("no model: set the model knob to an exported .onnx/.dfm")
    if not os.path.isfile(model):
        raise fc.FacecompHostError("{}: model file not found".format(model))
    command = fc.facecomp_command(node["facecomp_exe"].value())
    plate, write_input = plate_source(node, frames)
    todo = sorted(set(frames))
    if not force and not write_input and node["reuse"].value():
        todo = [f for f in todo if not os.path.isfile(frame_path(passes, f))]
    if write_input and todo:
        writer = node.node("PlateWrite")
        for first, last in _runs(todo):
            nuke.execute(writer, first, last)
    track = node["track_file"].value().strip() or None
    base = dict(plate=plate, out=passes, model=model, provider=node["provider"].value(), track=track,
                working_space=working_space(node), settings=node["settings_file"].value().strip() or None)
    requests = []
    for f in todo:
        per_frame = dict(overrides=merge_overrides(node, f), face_select=face_select(node, f))
        if requests and all(requests[-1][1][k] == v for k, v in per_frame.items()):
            requests[-1][0].append(f)
        else:
            params = dict(base)
            params.update(per_frame)
            requests.append(([f], params))
    return RenderJob(node.fullName(), command, requests, float(node["frame_timeout"].value()))


def run_job(job, on_frame=None, should_cancel=None):
    """Render a job through the pooled worker (any thread; no Nuke calls). Returns a summary dict."""
    t0 = time.time()
    worker = _POOL.get(job.command)
    providers = []
    for frames, params in job.requests:
        worker.load(params["model"], params["provider"], timeout=LOAD_TIMEOUT)
        reply = worker.render(frame_timeout=job.frame_timeout, on_progress=on_frame, should_cancel=should_cancel,
                              frames=frames, **params)
        providers = reply.get("providers", providers)
    return {"frames": len(job.frames), "seconds": time.time() - t0, "providers": providers}


# ---- status on the node
def set_status(node, text, error=False):
    node["status"].setValue(text)
    node["tile_color"].setValue(ERROR_COLOUR if error else OK_COLOUR)


def _describe(summary):
    where = ", ".join(p.replace("ExecutionProvider", "") for p in summary["providers"]) or "?"
    return "rendered {} frame(s) in {:.1f} s on {}".format(summary["frames"], summary["seconds"], where)


def render_now(node, frames, force=True):
    """Render frames synchronously (scripts, tests); raises FacecompHostError and shows it on the node."""
    try:
        job = prepare(node, frames, force)
        summary = run_job(job)
    except fc.FacecompHostError as exc:
        set_status(node, "ERROR: {}".format(exc), error=True)
        raise
    set_status(node, _describe(summary))
    return summary


# ---- Write renders (GUI and farm): init.py registers these
def _sources(op):
    """The nodes feeding ``op``; an Input inside a group stands for that input of the group."""
    if op.Class() == "Input":
        group = op.parent()
        number = int(op["number"].value()) if "number" in op.knobs() else 0
        if group is None or group is nuke.root() or number >= group.inputs():
            return []
        return [group.input(number)]
    return [op.input(i) for i in range(op.inputs())]


def upstream_faceswaps(op, seen=None):
    """FaceSwap nodes feeding ``op``, the most upstream first (through Groups and out of gizmos)."""
    seen = set() if seen is None else seen
    found = []
    for source in _sources(op):
        if source is None or source.fullName() in seen:
            continue
        seen.add(source.fullName())
        if source.Class() == "Group":
            for inner in source.nodes():
                if inner.Class() == "Output":
                    found.extend(upstream_faceswaps(inner, seen))
        else:
            found.extend(upstream_faceswaps(source, seen))
        if source.Class() == NODE_CLASS:
            found.append(source)
    return found


def before_frame_render():
    """beforeFrameRender callback: give every FaceSwap upstream of the Write its passes for this frame."""
    frame = nuke.frame()
    for node in upstream_faceswaps(nuke.thisNode()):
        if node["disable"].value():
            continue
        try:
            job = prepare(node, [frame])
            if job.requests:
                set_status(node, _describe(run_job(job)))
        except fc.FacecompHostError as exc:
            set_status(node, "ERROR: {}".format(exc), error=True)
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


def start_render(node, frames, force=True):
    """Render in a background thread; the node's status shows the outcome. Returns the thread (or None)."""
    if busy(node):
        set_status(node, "busy: a render of this node is running")
        return None
    try:
        job = prepare(node, frames, force)
    except fc.FacecompHostError as exc:
        set_status(node, "ERROR: {}".format(exc), error=True)
        return None
    if not job.requests:
        set_status(node, "frames already rendered")
        return None
    set_status(node, "rendering {} frame(s)...".format(len(job.frames)))
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

    summary, error, cancelled = None, None, False
    try:
        summary = run_job(job, on_frame, task.isCancelled)
    except fc.FacecompHostError as exc:
        error, cancelled = str(exc), getattr(exc, "kind", None) == "cancelled"
    task.setProgress(100)
    nuke.executeInMainThread(_finish, (job.node_name, summary, error, job.frames, cancelled))


def _finish(node_name, summary, error, frames, cancelled=False):
    _JOBS.pop(node_name, None)
    node = nuke.toNode(node_name)
    if node is None:
        return
    if cancelled:
        set_status(node, error)
    elif error:
        set_status(node, "ERROR: {}".format(error), error=True)
        _FAILED.update((node_name, node["passes_file"].value(), f) for f in frames)
    else:
        set_status(node, _describe(summary))
    node.node("Passes")["reload"].execute()


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
    """updateUI callback (GUI): in live mode, render the viewed frame when its passes are missing."""
    node = nuke.thisNode()
    if not node["live"].value() or busy(node):
        return None
    frame = nuke.frame()
    passes = node["passes_file"].value()
    if not passes or os.path.isfile(frame_path(passes, frame)) or (node.fullName(), passes, frame) in _FAILED:
        return None
    return start_render(node, [frame], force=False)


def make_track_button():
    """Run `facecomp track` on the shot's plate (in the background) and fill in the track knob.

    The track covers the script's frame range (`track --frames first-last`); when the plate comes from the
    input, that range is written to the cache first.
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
        plate, write_input = plate_source(node, frames)
        if write_input:
            for first, last in _runs(frames):
                nuke.execute(node.node("PlateWrite"), first, last)
    except fc.FacecompHostError as exc:
        set_status(node, "ERROR: {}".format(exc), error=True)
        return None
    out = os.path.join(cache_dir(node), node.name() + ".track.json").replace("\\", "/")
    args = ["track", plate, "--out", out, "--frames", "{}-{}".format(frames[0], frames[-1]),
            "--working-space", working_space(node), "--provider", node["provider"].value()]
    name = node.fullName()
    set_status(node, "building the track...")

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


def on_create():
    """onCreate of the gizmo: fill in the cache folder and the pass paths."""
    node = nuke.thisNode()
    if not node["cache_dir"].value().strip():
        node["cache_dir"].setValue(cache_dir(node).replace("\\", "/"))
    node["face_index"].setEnabled(node["face_select"].value() == "index")
    update_paths(node)


def knob_changed():
    """knobChanged of the gizmo: keep the pass paths in step with the knobs (cheap, idempotent)."""
    node, knob = nuke.thisNode(), nuke.thisKnob()
    name = knob.name()
    if name == "face_select":
        node["face_index"].setEnabled(knob.value() == "index")
    if name in RENDER_KNOBS or name in ("inputChange", "cache_dir", "showPanel", "name"):
        update_paths(node)
