"""Colour conversion with OpenColorIO and a pinned built-in config (never ``ocio://default``, whose meaning
changes with the OCIO version). Images are float32 BGR arrays, as everywhere in the engine.
"""

from __future__ import annotations

import functools

import numpy as np

from engine.errors import FacecompError

CONFIG_URI = "ocio://cg-config-v2.1.0_aces-v1.3_ocio-v2.3"
MODEL_SPACE = "sRGB - Texture"  # what face models are trained on (8-bit display-referred images)
LINEAR_REC709 = "Linear Rec.709 (sRGB)"


@functools.lru_cache(maxsize=1)
def config():
    import PyOpenColorIO as ocio

    return ocio.Config.CreateFromFile(CONFIG_URI)


def color_spaces() -> list[str]:
    """Names of the colour spaces of the pinned config."""
    return [cs.getName() for cs in config().getColorSpaces()]


@functools.lru_cache(maxsize=32)
def _processor(src: str, dst: str):
    cfg = config()
    for name in (src, dst):
        if cfg.getColorSpace(name) is None:
            raise FacecompError(f"unknown colour space {name!r} (config {CONFIG_URI})")
    return cfg.getProcessor(src, dst).getDefaultCPUProcessor()


def convert(img: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert a float BGR image from colour space ``src`` to ``dst`` (a copy; same space returns a copy too)."""
    out = np.ascontiguousarray(img[..., 2::-1], dtype=np.float32)  # OCIO wants RGB
    if src != dst:
        _processor(src, dst).applyRGB(out)
    return np.ascontiguousarray(out[..., ::-1])


def resolve_name(name: str) -> str:
    """Canonical colour-space name for a name, alias or role of the pinned config."""
    cs = config().getColorSpace(name)
    if cs is None:
        raise FacecompError(f"unknown colour space {name!r} (config {CONFIG_URI})")
    return cs.getName()


def to_model_space(img: np.ndarray, working_space: str | None) -> np.ndarray:
    """A frame as uint8 BGR in the model space (sRGB texture): 8-bit frames pass through, float frames are
    converted from ``working_space`` (None: taken as already sRGB-encoded) and clipped."""
    if img.dtype == np.uint8:
        return img
    f = convert(img, working_space, MODEL_SPACE) if working_space else img
    return (np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
