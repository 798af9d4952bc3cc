"""The colour space a plate is read in: one rule for extract, track, merge, render, report and the worker.

1. the working space given (``--working-space``; the Nuke node always sends one: *auto* = the script's working
   space; the Resolve script sends one unless it is left on *auto*);
2. else the EXR's own ``oiio:ColorSpace`` attribute, when it names a space of the pinned OCIO config;
3. else, for an EXR, the config's ``scene_linear`` role (ACEScg), logged once per folder;
4. 8-bit and 16-bit images and videos are sRGB (None: no conversion).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import FacecompError

log = logging.getLogger("facecomp")

# OIIO normalises some colour-space names to colour-interop IDs on read
_INTEROP = {"lin_ap1_scene": "ACEScg", "lin_ap0_scene": "ACES2065-1", "lin_rec709_scene": "Linear Rec.709 (sRGB)",
            "srgb_rec709_scene": "sRGB - Texture", "g22_rec709_scene": "Gamma 2.2 Rec.709 - Texture"}
_told: set[str] = set()


def exr_color_space(path: str | os.PathLike[str]) -> str | None:
    """The colour space an EXR declares (``oiio:ColorSpace``), as a name of the pinned OCIO config, or None."""
    import OpenImageIO as oiio

    from engine.media.color import resolve_name

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        return None
    try:
        name = inp.spec().get_string_attribute("oiio:ColorSpace")
    finally:
        inp.close()
    if not name:
        return None
    for candidate in (name, _INTEROP.get(name, "")):
        if not candidate:
            continue
        try:
            return resolve_name(candidate)
        except FacecompError:
            continue
    return None


def plate_space(path: str | os.PathLike[str] | None, image: np.ndarray, given: str | None = None) -> str | None:
    """The working space of one plate frame by the rule above (None = sRGB, no conversion)."""
    if given:
        return given
    if image.dtype == np.uint8 or path is None or Path(path).suffix.lower() != ".exr":
        return None
    return exr_space(path)


def exr_space(path: str | os.PathLike[str]) -> str:
    """The working space of an EXR given none: its ``oiio:ColorSpace``, else scene_linear (ACEScg), logged."""
    from engine.media.color import resolve_name

    declared = exr_color_space(path)
    if declared:
        return declared
    space = resolve_name("scene_linear")
    folder = str(Path(path).parent)
    if folder not in _told:
        _told.add(folder)
        log.info("%s: EXR without an oiio:ColorSpace attribute, read as %s (scene_linear); "
                 "give --working-space to change", Path(path).name, space)
    return space


HELP = "plate colour space (OCIO name); default: the EXR's oiio:ColorSpace, else ACEScg for EXR, sRGB otherwise"
