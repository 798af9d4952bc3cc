"""Pixels of the Fusion double's tools (fusionscript.py): Loader reads EXR (every part, the data window placed in the
display window, the OpenEXR channel-name inputs honoured), MediaIn reads a clip through facecomp's frame reader,
Merge composites over, Texture and the Cryptomatte fuse come from fusion_tools.py.
"""

from __future__ import annotations

from typing import Any

import fusion_tools
import numpy as np


def image(tool: Any, time: int) -> dict[str, np.ndarray] | None:
    """The image a tool outputs at comp time ``time`` (None: nothing there)."""
    from fusionscript import _CONNECTIONS

    if tool._attrs["TOOLB_PassThrough"] and tool.ID not in ("Loader", "MediaIn"):
        up = tool._links.get(_CONNECTIONS[tool.ID][0] if _CONNECTIONS[tool.ID] else "")
        return up._tool._image(time) if up is not None else None
    if tool.ID == "Loader":
        return load(tool, time)
    if tool.ID == "MediaIn":
        return tool._source(time) if tool._source is not None else None
    if tool.ID in fusion_tools.VALUES:
        return fusion_tools.image(tool, time)
    if tool.ID == "Merge":
        bg = tool._links.get("Background")
        fg = tool._links.get("Foreground")
        back = bg._tool._image(time) if bg is not None else None
        front = fg._tool._image(time) if fg is not None else None
        if front is None or back is None:
            return back if front is None else front
        return {c: front[c] + back[c] * (1 - front["A"]) for c in "RGBA"}
    up = tool._links.get("Input")
    return up._tool._image(time) if up is not None else None


def load(tool: Any, time: int) -> dict[str, np.ndarray] | None:
    v = tool._values
    path = tool._frame_path(time)
    if path is None:
        return None
    # a Loader keeps the frames it read: a file re-rendered under the same name shows stale pixels until the
    # Loader is refreshed (issue 13 finding 10; public scripts toggle TOOLB_PassThrough)
    if path not in tool._cache:
        tool._cache[path] = _read(tool, path)
    pixels, names = tool._cache[path]
    out = {}
    for c, key in zip("RGBA", ("Red", "Green", "Blue", "Alpha"), strict=True):
        name = v[f"Clip1.OpenEXRFormat.{key}Name"]
        out[c] = pixels[..., names.index(name)] if name in names else np.zeros(pixels.shape[:2], np.float32)
    for slot in ("U", "V"):  # auxiliary channels exist only when their slot names a channel of the file
        name = v[f"Clip1.OpenEXRFormat.{slot}Name"]
        if name in names:
            out[slot] = pixels[..., names.index(name)]
    return out


def _read(tool: Any, path: str) -> tuple[np.ndarray, list[str]]:
    """The EXR's channels in the display window (the data window placed in it, zero outside), every part of a
    multi-part file in one list. Designed around (Fusion's Loader lists the channels of every part): docs/hosts.md
    asks a studio to check that the Loader offers CryptoFace00/stmap (the file's second part)."""
    from engine.media.image_io import read_exr_layers

    try:
        layers, _ = read_exr_layers(path)
    except Exception as exc:  # noqa: BLE001 - the double reports any reader failure as a load error
        raise RuntimeError(f"{tool.Name}: cannot load {path}: {exc}") from None
    names = list(layers)
    return np.stack([layers[n] for n in names], axis=-1), names


def media_in_source(clip: str, first_time: int):
    """A MediaIn source: comp time t -> frame (t - first_time + 1) of a clip, as float RGBA in 0..1."""
    from engine.media.frames import open_frames

    frames = open_frames(clip)

    def image(time: int) -> dict[str, np.ndarray] | None:
        number = time - first_time + 1
        if number not in frames.numbers:
            return None
        bgr = frames.read(number).astype(np.float32) / 255.0
        return {"R": bgr[..., 2], "G": bgr[..., 1], "B": bgr[..., 0], "A": np.ones(bgr.shape[:2], np.float32)}

    return image
