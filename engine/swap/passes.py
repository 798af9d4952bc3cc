"""The EXR compositing passes of a frame: which layers, what they hold, and the data window.

One half-float EXR per frame (the plate's frame number), display window = the plate. Layers (pass name in
brackets, for ``--passes`` and the worker's ``passes``):

* ``face.R/G/B`` (face): the raw predicted faces in plate space, premultiplied by their blend masks.
* ``facemask.A`` (facemask; ``mask`` is accepted as an alias): the blend mask of all selected faces. Not
  ``mask.A``: ``mask`` is a reserved Nuke layer; Nuke shows this one as ``facemask.alpha``.
* ``facemask_<name>.A`` (mattes): one matte per face in the frame, ``<name>`` = the face's stable track name
  (``face0`` ...). Faces named with ``--faces`` get their layer in every frame (zero where absent); with
  ``all``/``largest`` a frame has the layers of its own faces only (a crowd shot would otherwise carry dozens of
  empty layers in every frame). The Cryptomatte lists every face of the shot in every frame.
* ``CryptoFace00.R/G/B/A``, ``CryptoFace01.R/G/B/A`` (crypto): Cryptomatte of the faces
  (:mod:`engine.swap.cryptomatte`), ids stored as 32-bit float, coverage = each face's matte.
* ``stmap.R/G`` (stmap): plate -> face-patch coordinates (:mod:`engine.swap.stmap`), 32-bit float.
* ``R,G,B,A`` (rgba, only when asked for): the merged frame, mask as alpha.

Data window: with ``rgba`` the whole plate; with ``stmap`` the union of the faces' regions (the STMap covers
each region whole; every pass is 0 outside it); otherwise the box of the faces' mattes (every pass is 0 outside
it: a smaller window, fewer pixels to write and read). A frame without a face has a 1x1 data window of zeros.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import numpy as np

from engine.errors import FacecompError
from engine.media.exr_parts import write_exr_parts
from engine.media.image_io import write_exr
from engine.swap import cryptomatte
from engine.swap.pipeline import FaceLayer, FrameResult, plate_to_float
from engine.swap.stmap import stmap

PASSES = ("face", "facemask", "mattes", "crypto", "stmap", "rgba")
DEFAULT_PASSES = ("face", "facemask", "mattes", "crypto", "stmap")
ALIASES = {"mask": "facemask"}
# Lossless compression of the pass EXRs (the one place that decides). On a 1080p 8-channel half frame, zlib per
# 16 scanlines ("zip") wrote faster than per scanline ("zips", write_exr's default) or PIZ, read back faster than
# zips and gave the smallest file (3.5 MiB vs zips 4.7, piz 3.9); "none" is faster still but 32 MiB a frame.
PASS_COMPRESSION = "zip"
Window = tuple[int, int, int, int]
# Channels that must be 32-bit: Cryptomatte ids (a half would change them) and the STMap (half steps of 1/2048
# near 1.0 would move a 512 px patch lookup by a quarter pixel). They go into a second part of the file
# (engine.media.exr_parts): the first part, the image passes, stays half. The one-part layout stores every channel
# 32-bit: one part mixing half and float channels is read as a float image anyway by tools that ask for the
# file's pixel type, and OIIO's Python binding writes such a part through a per-value conversion (1.6x the time
# of an all-float part; bench/passes.py measures the layouts).
FLOAT_CHANNELS = (*cryptomatte.layer_channels(), "stmap.R", "stmap.G")
# How a pass file is laid out: "parts" (default) = the image passes half in part one, FLOAT_CHANNELS 32-bit in
# part two; "single" = one part, every channel 32-bit (what Psyop's Cryptomatte fuse for Fusion needs: its EXR reader
# refuses multi-part files, Psyop/Cryptomatte fusion/Modules/Lua/cryptomatte_utilities.lua 1.4.0).
EXR_LAYOUTS = ("parts", "single")


def parse_passes(value: str | Iterable[str] | None, option: str = "--passes") -> tuple[str, ...]:
    """Pass names from ``face,facemask,...`` or a list (None: the default set); ``mask`` = ``facemask``."""
    if value is None:
        return DEFAULT_PASSES
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = [ALIASES.get(x.strip(), x.strip()) for x in items if x.strip()]
    bad = [x for x in names if x not in PASSES]
    if bad or not names:
        raise FacecompError(f"{option}: unknown pass(es) {', '.join(bad) or '(none)'}; use {','.join(PASSES)}")
    return tuple(dict.fromkeys(names))


def check_exr_layout(value: str, option: str = "--exr-layout") -> str:
    """``value`` if it names a pass file layout (:data:`EXR_LAYOUTS`), else a one-line error naming ``option``."""
    if value not in EXR_LAYOUTS:
        raise FacecompError(f"{option}: unknown EXR layout {value!r}; use {' or '.join(EXR_LAYOUTS)}")
    return value


def data_window(result: FrameResult, passes: tuple[str, ...]) -> Window:
    """(x0, y0, x1, y1) of the plate the file stores: the plate with ``rgba``; with ``stmap`` the faces' regions
    (the STMap covers each region whole); else the box of the faces' mattes, outside which every other pass is 0.
    A frame without a face (or with empty mattes): a 1x1 window at the origin."""
    h, w = result.plate.shape[:2]
    if "rgba" in passes:
        return 0, 0, w, h
    boxes = [layer.roi for layer in result.layers] if "stmap" in passes else \
        [box for box in (_matte_box(layer) for layer in result.layers) if box is not None]
    return _union(boxes) if boxes else (0, 0, 1, 1)


def _union(boxes: list[Window]) -> Window:
    b = np.array(boxes)
    return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def _matte_box(layer: FaceLayer) -> Window | None:
    """The plate box of a face's matte (mask > 0); None when it is empty."""
    rows, cols = np.flatnonzero(layer.mask.any(axis=1)), np.flatnonzero(layer.mask.any(axis=0))
    if rows.size == 0:
        return None
    x0, y0 = layer.roi[:2]
    return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1


def face_mattes(result: FrameResult, window: Window, names: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Each face's matte over ``window``: ``names`` (zero when absent) and the faces of the frame, in order."""
    wx, wy, wx1, wy1 = window
    mattes = {n: np.zeros((wy1 - wy, wx1 - wx), np.float32) for n in names}
    for layer in result.layers:
        x0, y0, x1, y1 = layer.roi
        matte = mattes.setdefault(layer.name, np.zeros((wy1 - wy, wx1 - wx), np.float32))
        sl = np.s_[y0 - wy:y1 - wy, x0 - wx:x1 - wx]
        matte[sl] = np.maximum(matte[sl], layer.mask)
    return mattes


def exr_channels(result: FrameResult, passes: tuple[str, ...] = DEFAULT_PASSES, names: Iterable[str] = (),
                 window: Window | None = None) -> dict[str, np.ndarray]:
    """The EXR channels of a frame over ``window`` (default :func:`data_window`), see the module docstring.
    ``names``: faces whose matte layer is written even when they are not in the frame."""
    window = window or data_window(result, passes)
    # computed over every face's region (the per-face passes are built region by region), then cut to window
    x0, y0, x1, y1 = _union([window, *(layer.roi for layer in result.layers)])
    sl = np.s_[y0:y1, x0:x1]
    ch: dict[str, np.ndarray] = {}
    if "rgba" in passes:
        frame_sized = result.merged.shape[:2] == result.plate.shape[:2]
        merged = plate_to_float((result.merged if frame_sized else result.plate)[sl])
        ch.update({"R": merged[..., 2], "G": merged[..., 1], "B": merged[..., 0], "A": result.face_mask[sl]})
    if "face" in passes:
        face = result.face_pass((x0, y0, x1, y1))
        ch.update({"face.R": face[..., 2], "face.G": face[..., 1], "face.B": face[..., 0]})
    if "facemask" in passes:
        ch["facemask.A"] = result.face_mask[sl]
    if "mattes" in passes or "crypto" in passes:
        mattes = face_mattes(result, (x0, y0, x1, y1), names)
        if "mattes" in passes:
            ch.update({f"facemask_{n}.A": m for n, m in mattes.items()})
        if "crypto" in passes:
            ch.update(cryptomatte.encode(mattes))
    if "stmap" in passes:
        ch["stmap.R"], ch["stmap.G"] = stmap(result.layers, (x0, y0, x1, y1))
    if (x0, y0, x1, y1) == window:
        return ch
    cut = np.s_[window[1] - y0:window[3] - y0, window[0] - x0:window[2] - x0]
    return {name: values[cut] for name, values in ch.items()}


def write_passes(path: str | os.PathLike[str], result: FrameResult, passes: tuple[str, ...] = DEFAULT_PASSES,
                 attributes: dict[str, str] | None = None, names: Iterable[str] = (), matte_names: Iterable[str] = (),
                 layout: str = "parts") -> None:
    """One EXR of the chosen passes (:data:`PASS_COMPRESSION`), written atomically: the image passes as half in
    its first part, :data:`FLOAT_CHANNELS` as 32-bit float in a second part (``layout`` "single": one part, every
    channel 32-bit; :data:`EXR_LAYOUTS`).
    ``names``: the faces of the shot (stable names) for the Cryptomatte manifest; ``matte_names``: those whose
    matte layer is written in every frame."""
    window = data_window(result, passes)
    ch = exr_channels(result, passes, matte_names, window)
    all_names = list(dict.fromkeys([*names, *(layer.name for layer in result.layers)]))
    attrs = {**(attributes or {}), "facecomp:face_names": json.dumps(all_names),
             "facecomp:passes": ",".join(passes)}
    if "crypto" in passes:
        attrs.update(cryptomatte.metadata(all_names))
    h, w = result.plate.shape[:2]
    if check_exr_layout(layout, "layout") == "single":
        write_exr(path, ch, half=False, attributes=attrs, compression=PASS_COMPRESSION, data_origin=window[:2],
                  display_size=(w, h))
    else:
        write_exr_parts(path, ch, FLOAT_CHANNELS, attrs, PASS_COMPRESSION, data_origin=window[:2],
                        display_size=(w, h))
