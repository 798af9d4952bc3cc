"""Where a FaceSwap node's plate comes from, and which FaceSwaps feed a Write (Nuke's node graph, read only).

Stdlib-only (Python 3.7+). Nothing here renders: finding the plate never starts a render (a render started from
inside a render callback is what Nuke refuses with "I'm already executing something else").
"""

import os
import re
import tempfile

import nuke

NODE_CLASS = "FaceSwap"
CACHE_ENV = "FACECOMP_CACHE_DIR"
# Nuke's own colour-space names -> names of facecomp's OCIO config
NUKE_SPACES = {"linear": "Linear Rec.709 (sRGB)", "srgb": "sRGB - Texture"}


def cache_dir(node):
    """The node's cache folder: its knob, else $FACECOMP_CACHE_DIR, else beside the saved script, else temp.

    Resolved at every use, never stored by the node: an unsaved script gets the temp folder only until it is
    saved, after which the passes go beside the script.
    """
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


def upstream_read(node):
    """(the Read feeding the node through Dots, NoOps and TimeOffsets, or None; the frame offset on the way).

    With an offset of k the node's frame f shows the Read's frame f - k (TimeOffset's time_offset knob).
    """
    source, offset = node.input(0), 0
    while source is not None and source.Class() in ("Dot", "NoOp", "TimeOffset"):
        if source.Class() == "TimeOffset" and not source["disable"].value():
            offset += int(source["time_offset"].value())
        source = source.input(0)
    return (source, offset) if source is not None and source.Class() == "Read" else (None, 0)


def read_pattern(read):
    """The Read's file pattern with its Tcl expressions evaluated, frame pattern kept (``plate.%04d.exr``)."""
    path = read["file"].value()
    if "[" in path:
        path = nuke.filename(read) or path
    return path


_SHIFT = re.compile(r"^\s*(?:frame|t|x)\s*(?:([+-])\s*(\d+))?\s*$")


def read_frame_offset(read):
    """The Read's own frame mapping as an offset k (its frame g shows file frame g - k), or None when it is not one.

    Foundry's Nuke guide, "Changing the Relation Between the Current Frame and the Frame Read In": the Read's
    ``frame`` knob with ``frame_mode`` *expression* (``frame+499``: frame 1 reads image.0500, k = -499), *start at*
    (the number is the frame at which the first frame of the sequence is read in: k = N - first) or *offset* (the
    clip moves by the constant, as a TimeOffset does: k = N; public scripts set offset -K to read file frame f + K).
    ``first``/``last`` stay file frames. Any other expression (``frame*2``, a Tcl call) is not a constant shift.
    """
    value = str(read["frame"].value()).strip() if "frame" in read.knobs() else ""
    if not value:
        return 0
    mode = str(read["frame_mode"].value()) if "frame_mode" in read.knobs() else "expression"
    if mode in ("start at", "start_at", "offset"):
        try:
            number = int(float(value))
        except ValueError:
            return None
        return number - int(read["first"].value()) if mode != "offset" else number
    shift = _SHIFT.match(value)
    if shift is None:
        return None
    sign, amount = shift.groups()
    return 0 if amount is None else (-int(amount) if sign == "+" else int(amount))


def read_file_frames(read, frames):
    """{Read frame: file frame} for ``frames`` of the Read's output, or None when one of them is not a file frame.

    The Read's own offset (read_frame_offset) moves the frame; outside the Read's ``first``-``last`` range (file
    frames) its ``before``/``after`` mode *hold* shows the first/last file frame (Nuke's default; opticalenquiry's
    Nuke wiki, Read: "The default is 'hold'"); loop, bounce and black are left to Nuke (None: write the input).
    """
    own = read_frame_offset(read)
    if own is None:
        return None
    first, last = int(read["first"].value()), int(read["last"].value())
    found = {}
    for frame in frames:
        file_frame = frame - own
        if not first <= file_frame <= last:
            if str(read["before" if file_frame < first else "after"].value()) != "hold":
                return None
            file_frame = min(max(file_frame, first), last)
        found[frame] = file_frame
    return found


def _read_is_plain(read, node):
    """True when the worker can read the Read's files as they are: EXR in the working space (or raw)."""
    if not read_pattern(read).lower().endswith(".exr"):
        return False
    if read["raw"].value():
        return True
    space = str(read["colorspace"].value())
    return space.startswith("default") or NUKE_SPACES.get(space.lower(), space) in (
        working_space(node), "scene_linear")


def input_cache(node):
    """Where the node's input is written when the worker cannot read the plate files directly."""
    return os.path.join(cache_dir(node), "input", node.name() + ".%04d.exr").replace("\\", "/")


def plate_source(node, frames):
    """(plate pattern the worker reads, True when the input must be written there first, {node frame: plate file
    frame} for ``frames``)."""
    mode = node["plate_source"].value()
    same = {f: f for f in frames}
    if mode == "file":
        plate = node["plate_file"].value().strip()
        if not plate:
            raise ValueError("plate from = file, but the plate file knob is empty")
        return plate, False, same
    if mode == "auto":
        read, offset = upstream_read(node)
        found = read_file_frames(read, [f - offset for f in frames]) if read is not None else None
        if found is not None and _read_is_plain(read, node):
            return read_pattern(read), False, {f: found[f - offset] for f in frames}
    return input_cache(node), True, same


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


def declare_face_layers(names):
    """Declare the per-face matte layers (``facemask_<name>.alpha``) so Nuke names them predictably.

    EXR ``facemask_face0.A`` arrives as ``facemask_face0.alpha`` (Foundry's ExrChannelNameToNuke maps the suffix
    A to alpha); ``nuke.Layer(name, channels)`` declares it as add_layer does in a script.
    """
    known = set(nuke.layers())
    for name in names:
        layer = "facemask_" + name
        if layer not in known:
            nuke.Layer(layer, [layer + ".alpha"])
    return ["facemask_" + name for name in names]
