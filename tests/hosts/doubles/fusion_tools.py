"""Tools of the Fusion double beyond Loader/Saver/Merge/MediaIn: Fusion's Texture tool and Psyop's Cryptomatte fuse.

Texture (Tools > Deep Pixel > Texture; Blackmagic forum t=61291, "Connect your ... RGBA + UV pass image to the
Texture node's Input ... your replacement image to the Texture node's Texture connection"): the output looks the
Texture image up at the U/V auxiliary channels of the Input. The double refuses an Input without U/V channels (what
the STMap Loader must provide) and looks up the nearest pixel, coordinates 0..1 from the bottom-left corner.

Fuse.Cryptomatte (Psyop/Cryptomatte fusion/, 1.4.0): installed only when a test installs it (``Fusion._fuses``);
it reads its input image's metadata -- here the frame file its Loader read -- finds the ``cryptomatte/<key>/``
header, refuses a multi-part EXR ("multipart EXR not supported", cryptomatte_utilities.lua get_layer_images,
commit 74e69c9 #49), and outputs as alpha the coverage of the faces in ``MatteList`` ('"face0", "face1"': quoted
names, get_matte_names), summed over the ranks of the ``<layer>NN.R/G/B/A`` channels.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

import numpy as np

VALUES = {"Texture": {}, "Fuse.Cryptomatte": {"MatteList": "", "LayerIndex": 1, "LayerName": "", "ViewMode": 0}}
CONNECTIONS = {"Texture": ["Input", "Texture", "EffectMask"], "Fuse.Cryptomatte": ["Input"]}
FUSES = {"Fuse.Cryptomatte"}


def image(tool: Any, time: int) -> dict[str, np.ndarray] | None:
    if tool.ID == "Texture":
        return _texture(tool, time)
    return _cryptomatte(tool, time)


def _upstream(tool: Any, name: str, time: int) -> dict[str, np.ndarray] | None:
    link = tool._links.get(name)
    return link._tool._image(time) if link is not None else None


def _texture(tool: Any, time: int) -> dict[str, np.ndarray] | None:
    uv, tex = _upstream(tool, "Input", time), _upstream(tool, "Texture", time)
    if uv is None:
        return None
    if "U" not in uv or "V" not in uv:
        raise RuntimeError(f"{tool.Name}: its Input has no U/V channels to look the texture up at")
    if tex is None:
        return uv
    h, w = tex["R"].shape
    x = np.clip(np.floor(uv["U"] * w), 0, w - 1).astype(int)
    y = np.clip(h - 1 - np.floor(uv["V"] * h), 0, h - 1).astype(int)  # rows top-down, V from the bottom
    return {c: tex[c][y, x] for c in "RGBA"}


def _float_id(hex_id: str) -> np.float32:
    return np.float32(struct.unpack(">f", bytes.fromhex(hex_id))[0])


def _cryptomatte(tool: Any, time: int) -> dict[str, np.ndarray] | None:
    import OpenImageIO as oiio

    link = tool._links.get("Input")
    if link is None or link._tool.ID != "Loader":
        return None
    loader = link._tool
    shown = loader._image(time)
    path = loader._frame_path(time)
    if shown is None or path is None:
        return shown
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise RuntimeError(f"{tool.Name}: cannot read {path}")
    parts = 1
    while inp.seek_subimage(parts, 0):
        parts += 1
    spec = inp.spec() if parts == 1 else None
    inp.close()
    if spec is None:
        raise RuntimeError(f"[Cryptomatte][{tool.Name}][ERROR] multipart EXR not supported")
    meta = {a.name: a.value for a in spec.extra_attribs if a.name.startswith("cryptomatte/")}
    layer = next((v for k, v in meta.items() if k.endswith("/name")), None)
    if layer is None:
        raise RuntimeError(f"[Cryptomatte][{tool.Name}][ERROR] no cryptomatte metadata found")
    key = next(k.split("/")[1] for k, v in meta.items() if k.endswith("/name") and v == layer)
    manifest = json.loads(meta[f"cryptomatte/{key}/manifest"])
    wanted = set(re.findall(r'"([^"]*)"', tool._values["MatteList"]))
    ids = [_float_id(manifest[n]) for n in wanted if n in manifest]
    from engine.media.image_io import read_exr_layers

    layers, _ = read_exr_layers(path)
    alpha = np.zeros_like(shown["A"])
    for rank in range(10):
        prefix = f"{layer}{rank:02d}."
        if prefix + "R" not in layers:
            break
        for id_ch, cov_ch in (("R", "G"), ("B", "A")):
            hit = np.isin(layers[prefix + id_ch], ids)
            alpha += np.where(hit, layers[prefix + cov_ch], 0.0).astype(np.float32)
    return {"R": alpha, "G": alpha, "B": alpha, "A": alpha}
