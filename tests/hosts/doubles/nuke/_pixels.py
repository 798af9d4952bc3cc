"""Pixel evaluation of the nuke double: the few node classes the FaceSwap gizmo and the tests use.

An image is a dict ``{nuke channel name: float32 HxW array}`` with rows top-down (Read and Write
use the same convention, so the y flip of real Nuke never shows). EXR channel names map to Nuke's
as Nuke's EXR reader does for the layers we use: ``R,G,B,A`` -> ``rgba.red..alpha``,
``face.R`` -> ``face.red``; the built-in ``mask`` layer's one channel is ``mask.a`` (``mask.A`` in EXR).
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import OpenImageIO as oiio

# Foundry's ExrChannelNameToNuke.cpp (setFromPrefixedExrName): split at '.', drop leading digits of each part and
# empty parts, non-alphanumerics -> '_', all parts but the last joined by '_' form the layer (a part naming a view
# is dropped, layer "Ci" is the main layer), and the channel R/r/Red/RED -> red, G.. -> green, B.. -> blue,
# A/a/Alpha/ALPHA -> alpha. So EXR "mask.A" is Nuke "mask.alpha" - not the built-in "mask.a" (Foundry's reserved
# channels) - and "facemask.A" is "facemask.alpha".
_CHANNEL_WORDS = {"red": ("R", "r", "Red", "RED"), "green": ("G", "g", "Green", "GREEN"),
                  "blue": ("B", "b", "Blue", "BLUE"), "alpha": ("A", "a", "Alpha", "ALPHA")}
_TO_NUKE_CHANNEL = {w: name for name, words in _CHANNEL_WORDS.items() for w in words}
_NUKE_TO_SUFFIX = {"red": "R", "green": "G", "blue": "B", "alpha": "A"}
# Nuke's built-in layers (Foundry "Reserved channels"): their channel names are fixed
BUILTIN_LAYERS = {
    "rgba": ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"],
    "rgb": ["rgba.red", "rgba.green", "rgba.blue"],
    "alpha": ["rgba.alpha"],
    "depth": ["depth.Z"],
    "mask": ["mask.a"],
}


def _clean_part(part: str) -> str:
    part = part.lstrip("0123456789")
    return "".join(c if c.isalnum() else "_" for c in part)


def exr_to_nuke(name: str, views: tuple[str, ...] = ()) -> str:
    """The Nuke channel an EXR channel name becomes (as ExrChannelNameToNuke; the main layer is ``rgba``)."""
    parts = name.split(".")
    if len(parts) > 3:  # the C++ splits off at most two leading parts; the rest is the channel
        parts = parts[:2] + [".".join(parts[2:])]
    parts = [c for c in (_clean_part(p) for p in parts) if c]
    layer_parts = [p for p in parts[:-1] if p not in views]
    layer = "_".join(layer_parts)
    chan = parts[-1] if parts else "unnamed"
    if layer == "Ci":
        layer = ""
    chan = _TO_NUKE_CHANNEL.get(chan, chan)
    if not layer:
        return "rgba." + chan if chan in _NUKE_TO_SUFFIX else chan
    return f"{layer}.{chan}"


def nuke_to_exr(name: str) -> str:
    """The EXR name the double's Write gives a Nuke channel (rgba.red -> R, face.red -> face.R)."""
    layer, _, chan = name.partition(".")
    if layer == "rgba":
        return _NUKE_TO_SUFFIX.get(chan, chan)
    return f"{layer}.{_NUKE_TO_SUFFIX.get(chan, chan)}"


def layer_channels(spec: str, image: dict[str, np.ndarray], layers: dict[str, list[str]]) -> list[str]:
    """Channels named by a channel-set knob value (``rgba``, ``all``, ``none`` or a layer name)."""
    if spec in ("none", ""):
        return []
    if spec == "all":
        return list(image)
    if spec in BUILTIN_LAYERS:
        return BUILTIN_LAYERS[spec]
    declared = layers.get(spec, [])
    return declared + [c for c in image if c.startswith(spec + ".") and c not in declared]


_READ_CACHE: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def read_exr(path: str) -> dict[str, np.ndarray]:
    """An EXR's channels by Nuke name, cached per file version (path, mtime, size) as Nuke's Read caches them."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _READ_CACHE:
        if len(_READ_CACHE) > 64:
            _READ_CACHE.clear()
        _READ_CACHE[key] = _read_exr(path)
    return dict(_READ_CACHE[key])


def _read_exr(path: str) -> dict[str, np.ndarray]:
    # Every part of a multi-part (OpenEXR 2.0) file in one channel set, the data window placed in the display
    # window (zero outside), as Nuke's Read shows them. Designed around, not confirmed from a primary source
    # here: docs/hosts.md asks a studio to check that the Read lists CryptoFace00/stmap (the file's second part).
    from engine.media.image_io import read_exr_layers

    try:
        layers, _ = read_exr_layers(path)
    except Exception as exc:  # noqa: BLE001 - the double reports any reader failure as Nuke's Read error
        raise RuntimeError(f"Read error: {path}: {exc}") from None
    return {exr_to_nuke(n): np.ascontiguousarray(a) for n, a in layers.items()}


def write_exr(path: str, image: dict[str, np.ndarray], half: bool = True) -> None:
    names = list(image)
    h, w = next(iter(image.values())).shape
    exr_names = [nuke_to_exr(n) for n in names]
    order = sorted(range(len(names)), key=lambda i: (("." in exr_names[i]), "RGBA".find(exr_names[i][-1]), i))
    spec = oiio.ImageSpec(w, h, len(names), "half" if half else "float")
    spec.channelnames = tuple(exr_names[i] for i in order)
    spec.attribute("compression", "zip")
    tmp = path + ".tmp.exr"
    out = oiio.ImageOutput.create(tmp)
    if out is None or not out.open(tmp, spec):
        raise RuntimeError(f"Write error: {path}: {oiio.geterror()}")
    out.write_image(np.stack([image[names[i]] for i in order], axis=-1).astype(np.float32))
    out.close()
    os.replace(tmp, path)


def black(fmt: tuple[int, int]) -> dict[str, np.ndarray]:
    w, h = fmt
    return {c: np.zeros((h, w), np.float32) for c in BUILTIN_LAYERS["rgba"]}


def evaluate(node: Any, frame: int, state: Any) -> dict[str, np.ndarray]:
    """The image a node outputs at a frame."""
    cls = node.Class()
    if cls not in ("Read", "Input") and "disable" in node.knobs() and node["disable"]._value_at(frame):
        src = node.input(0)
        return evaluate(src, frame, state) if src is not None else black(state.format)
    if cls == "Read":
        return _read(node, frame, state)
    if cls == "Input":
        group = node.parent()
        src = group.input(int(node["number"]._value_at(frame))) if group is not None else None
        return evaluate(src, frame, state) if src is not None else black(state.format)
    if cls in ("Group", "Gizmo") or node._is_group:
        out = next((n for n in node.nodes() if n.Class() == "Output"), None)
        if out is None:
            raise RuntimeError(f"{node.fullName()}: group has no Output")
        return evaluate(out, frame, state)
    if cls == "Copy":
        return _copy(node, frame, state)
    if cls == "Merge2":
        return _merge(node, frame, state)
    if cls == "TimeOffset":  # frame f shows the input's frame f - time_offset
        src = node.input(0)
        shifted = frame - int(node["time_offset"]._value_at(frame))
        return dict(evaluate(src, shifted, state)) if src is not None else black(state.format)
    src = node.input(0)
    image = dict(evaluate(src, frame, state)) if src is not None else black(state.format)
    if cls == "Grade":
        gain = float(node["multiply"]._value_at(frame))
        for c in layer_channels(node["channels"]._value_at(frame), image, state.layers):
            image[c] = image[c] * gain
    elif cls not in ("Dot", "NoOp", "Output", "Write", "Viewer"):
        raise RuntimeError(f"the nuke double cannot render {cls} nodes")
    return image


def _file_frame(node: Any, frame: int) -> int:
    """The file frame a Read shows at ``frame``. Foundry's Nuke guide, "Changing the Relation Between the Current
    Frame and the Frame Read In" (learn.foundry.com/nuke/8.0/content/getting_started/managing_scripts/
    changing_read_frames.html): ``frame_mode`` expression (``frame+499``: frame 1 reads image.0500), start at (the
    frame at which the first frame of the sequence, ``first``, is read in) or offset (the clip moves by the
    constant: a sequence 200-300 with offset -100 shows at 100-200, opticalenquiry.com's Nuke wiki, Read). The
    double evaluates expressions of the form frame, frame+K, frame-K only and refuses others."""
    value = str(node["frame"]._value_at(frame)).strip()
    if not value:
        return frame
    mode = node["frame_mode"]._value_at(frame)
    if mode == "start at":
        return frame - int(value) + int(node["first"]._value_at(frame))
    if mode == "offset":
        return frame - int(value)
    m = re.fullmatch(r"\s*frame\s*(?:([+-])\s*(\d+))?\s*", value)
    if m is None:
        raise RuntimeError(f"the nuke double cannot evaluate the Read frame expression {value!r}")
    return frame + (0 if m.group(2) is None else int(m.group(2)) * (1 if m.group(1) == "+" else -1))


def _read(node: Any, frame: int, state: Any) -> dict[str, np.ndarray]:
    frame = _file_frame(node, frame)  # first/last and before/after are in file frames
    first, last = int(node["first"]._value_at(frame)), int(node["last"]._value_at(frame))
    if frame < first or frame > last:
        mode = node["before" if frame < first else "after"]._value_at(frame)
        if mode == "black":
            return black(state.format)
        frame = first if frame < first else last
    path = node["file"]._evaluate_at(frame)
    if not os.path.isfile(path):
        if node["on_error"]._value_at(frame) == "black":
            return black(state.format)
        raise RuntimeError(f"{node.fullName()}: Read error: {path}: No such file or directory")
    return read_exr(path)


def _copy(node: Any, frame: int, state: Any) -> dict[str, np.ndarray]:
    b_src, a_src = node.input(0), node.input(1)
    image = dict(evaluate(b_src, frame, state)) if b_src is not None else black(state.format)
    a = evaluate(a_src, frame, state) if a_src is not None else black(state.format)
    shape = next(iter(image.values())).shape
    pairs = [(c, c) for knob in ("channels", "channels2", "channels3", "channels4")
             for c in layer_channels(node[knob]._value_at(frame), a, state.layers)]
    for i in range(4):
        src, dst = node[f"from{i}"]._value_at(frame), node[f"to{i}"]._value_at(frame)
        if src not in ("", "none") and not src.startswith("-") and not dst.startswith("-"):
            pairs.append((src, dst))
    for src, dst in pairs:
        image[dst] = a[src] if src in a else np.zeros(shape, np.float32)
    return image


def _merge(node: Any, frame: int, state: Any) -> dict[str, np.ndarray]:
    """Merge2 with operation over on rgba: A + B * (1 - A.alpha); B's other channels pass through."""
    if node["operation"]._value_at(frame) != "over":
        raise RuntimeError("the nuke double's Merge2 knows operation over only")
    b_src, a_src = node.input(0), node.input(1)
    image = dict(evaluate(b_src, frame, state)) if b_src is not None else black(state.format)
    if a_src is None:
        return image
    a = evaluate(a_src, frame, state)
    shape = next(iter(image.values())).shape
    zero = np.zeros(shape, np.float32)
    alpha = a.get("rgba.alpha", zero)
    for c in BUILTIN_LAYERS["rgba"]:
        image[c] = a.get(c, zero) + image.get(c, zero) * (1.0 - alpha)
    return image
