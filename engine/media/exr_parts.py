"""A two-part EXR: the image channels as half in the first part, 32-bit data channels in a second part.

Why two parts: Cryptomatte ids lose their value in half floats, and an STMap in half moves a lookup by a
quarter pixel; but a file whose first part mixes half and float is read as a float image by every tool that
asks for "the" pixel type (OpenImageIO reports the widest), and writing mixed channels through OIIO's Python
binding converts value by value. Two parts keep the image passes half (fast, what compositors expect) and the
ids exact; Nuke's Read and Fusion's Loader read every part of a multi-part EXR (OpenEXR 2.0) into one
channel set. Parts share the data and display windows and carry the same attributes.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import numpy as np

from engine import atomic
from engine.errors import FacecompError
from engine.media.image_io import _interleave, exr_spec

IMAGE_PART = "passes"
DATA_PART = "ids"


def write_exr_parts(path: str | os.PathLike[str], channels: dict[str, np.ndarray], float_channels: Collection[str],
                    attributes: dict[str, str] | None = None, compression: str = "zip", *,
                    data_origin: tuple[int, int] = (0, 0), display_size: tuple[int, int] | None = None) -> None:
    """Write ``channels`` (each HxW) atomically: those not in ``float_channels`` as half in part ``passes``,
    the others as 32-bit float in part ``ids`` (a single part when one of the two is empty)."""
    import OpenImageIO as oiio

    image = {n: c for n, c in channels.items() if n not in float_channels}
    data = {n: c for n, c in channels.items() if n in float_channels}
    parts = [(IMAGE_PART, image, True), (DATA_PART, data, False)]
    parts = [p for p in parts if p[1]]
    if not parts:
        raise FacecompError("no channels to write", path)
    h, w = next(iter(parts[0][1].values())).shape[:2]
    specs, pixels = [], []
    for name, chans, half in parts:
        spec = exr_spec(list(chans), (w, h), half, attributes, compression, data_origin, display_size)
        if len(parts) > 1:
            spec.attribute("oiio:subimagename", name)  # the part's name (required in a multi-part file)
        specs.append(spec)
        pixels.append(_interleave(chans, half))
    with atomic.atomic_path(path) as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), specs):
            raise FacecompError(f"cannot write EXR ({oiio.geterror().strip()})", path)
        try:
            for i, (spec, px) in enumerate(zip(specs, pixels, strict=True)):
                if i and not out.open(str(tmp), spec, "AppendSubimage"):
                    raise FacecompError(f"cannot write EXR part {i} ({out.geterror().strip()})", path)
                if not out.write_image(px):
                    raise FacecompError(f"cannot write EXR ({out.geterror().strip()})", path)
        finally:
            out.close()
