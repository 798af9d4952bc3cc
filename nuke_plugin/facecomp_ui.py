"""The FaceSwap node's interactive side (GUI): buttons, live mode, Build track, the face picker, knob callbacks.

Stdlib-only (Python 3.7+). Renders run in background threads through facecomp_nuke (the render core); nothing here
blocks Nuke's UI or starts a render from a UI callback (updateUI, knobChanged).
"""

import os
import threading

import facecomp_graph as graph
import facecomp_nuke as core
import nuke
from host_kit import client as fc
from host_kit import sequences
from host_kit import track as hk_track

_JOBS = {}  # node full name -> running background thread


def busy(node):
    thread = _JOBS.get(node.fullName())
    return thread is not None and thread.is_alive()


def start_render(node, frames, force=True, may_write=True):
    """Render in a background thread; the node's status shows the outcome. Returns the thread (or None)."""
    if busy(node):
        core.set_status(node, "busy: a render of this node is running")
        return None
    try:
        job = core.prepare(node, frames, force, may_write)
    except fc.FacecompHostError as exc:
        core.show_error(node, exc)
        return None
    if not job.requests:
        core.set_status(node, "frames already rendered")
        return None
    core.set_status(node, "rendering {} frame(s)...".format(len(job.frames)), waiting=True)
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
        summary = core.run_job(job, on_frame, task.isCancelled)
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
        core.show_error(node, error)
    else:
        core.show_done(node, summary)
    core.inner_node(node, "Passes")["reload"].execute()


def render_frame_button():
    return start_render(nuke.thisNode(), [nuke.frame()])


def render_range_button():
    root = nuke.root()
    first, last = int(root["first_frame"].value()), int(root["last_frame"].value())
    return start_render(nuke.thisNode(), list(range(first, last + 1)))


def stop_worker_button():
    core.stop_all_workers()
    core.set_status(nuke.thisNode(), "worker stopped")


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
    failed = core.FAILED_SETUPS.get(node.fullName()) == passes
    if not passes or failed or os.path.isfile(sequences.frame_path(passes, frame)):
        return None
    if not node["live"].value():
        if not node["status"].value().startswith(("ERROR", "rendering")):
            core.set_status(node, "frame {} not rendered: the plate passes through".format(frame), waiting=True)
        return None
    return start_render(node, [frame], force=False, may_write=False)


def make_track_button():
    """Run `facecomp track` on the shot's plate (in the background) and fill in the track knob.

    The track covers the script's frame range (`track --frames first-last`); when the plate comes from the
    input, that range is written to the cache first (a button press: top level, so Nuke may render). With the
    node's XSeg model set the track carries XSeg masks (`--xseg-model`).
    """
    node = nuke.thisNode()
    if busy(node):
        core.set_status(node, "busy: a render of this node is running")
        return None
    root = nuke.root()
    frames = list(range(int(root["first_frame"].value()), int(root["last_frame"].value()) + 1))
    try:
        command = fc.facecomp_command(node["facecomp_exe"].value())
        core.update_paths(node)
        plate, from_input, file_frames = graph.plate_source(node, frames)
        if from_input:
            core.write_input(node, frames)
        frames = sorted(set(file_frames.values()))  # the track names the plate's own frames
    except (fc.FacecompHostError, ValueError) as exc:
        core.show_error(node, exc)
        return None
    out = os.path.join(graph.cache_dir(node), node.name() + ".track.json").replace("\\", "/")
    try:
        xseg = fc.check_xseg_model(node["xseg_model"].value().strip())
    except fc.FacecompHostError as exc:
        core.show_error(node, exc)
        return None
    args = hk_track.track_args(plate, out, frames[0], frames[-1], graph.working_space(node), node["provider"].value(),
                               xseg)
    name = node.fullName()
    core.set_status(node, "building the track...", waiting=True)

    def work():
        task = nuke.ProgressTask("facecomp track {}".format(name))
        error = None
        try:
            fc.run_facecomp(command, args, should_cancel=task.isCancelled)
        except fc.FacecompHostError as exc:
            error = str(exc)
        task.setProgress(100)
        nuke.executeInMainThread(_track_done, (name, out, error, xseg))

    thread = threading.Thread(target=work, name="facecomp track " + name, daemon=True)
    _JOBS[name] = thread
    thread.start()
    return thread


def _track_done(node_name, out, error, xseg=None):
    _JOBS.pop(node_name, None)
    node = nuke.toNode(node_name)
    if node is None:
        return
    if error:
        core.set_status(node, "ERROR: track: {}".format(error), error=True)
    else:
        node["track_file"].setValue(out)
        core.set_status(node, hk_track.track_done_message(out, xseg))


def refresh_faces(node):
    """Fill the face picker with the track's face names and declare their matte layers (facemask_<name>)."""
    names = []
    track = node["track_file"].value().strip()
    if track and os.path.isfile(track):
        try:
            names = hk_track.face_names(track)
        except ValueError as exc:
            core.set_status(node, "ERROR: {}".format(exc), error=True)
    node["face_pick"].setValues(["all", "largest"] + names)
    layers = graph.declare_face_layers(names)
    for i, knob in enumerate(("channels", "channels2", "channels3", "channels4")):
        core.inner_node(node, "CopyMattes")[knob].setValue(layers[i] if i < len(layers) else "none")
    return names


def on_create():
    """onCreate of the gizmo: pass paths and face list. The cache folder is not stored: it is resolved at each
    use (an unsaved script must not keep a temp folder for good)."""
    node = nuke.thisNode()
    core.update_paths(node)
    refresh_faces(node)


def knob_changed():
    """knobChanged of the gizmo: keep the pass paths in step with the knobs (cheap, idempotent)."""
    node, knob = nuke.thisNode(), nuke.thisKnob()
    name = knob.name()
    if name == "face_pick":
        picked = knob.value()
        current = [n for n in core.faces_choice(node).split(",") if n not in ("all", "largest")]
        node["faces"].setValue(picked if picked in ("all", "largest") else ",".join(dict.fromkeys(current + [picked])))
    if name == "track_file":
        refresh_faces(node)
    if name in core.RENDER_KNOBS or name in ("inputChange", "cache_dir", "showPanel", "name"):
        core.FAILED_SETUPS.pop(node.fullName(), None)
        core.update_paths(node)
