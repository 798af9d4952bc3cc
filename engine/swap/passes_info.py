"""What a pass file holds (``facecomp passes info FILE.exr``): windows, layers, the faces and their names, and
the Cryptomattes with their manifests, read from the EXR header (pixels only for the per-face coverage)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacecompError
from engine.media.image_io import read_exr_layers

_CRYPTO_KEY = re.compile(r"cryptomatte/([0-9A-Za-z]{1,7})/(name|hash|conversion|manifest|manif_file)\Z")


@dataclass
class CryptoInfo:
    key: str
    name: str
    hash: str
    conversion: str
    ranks: int
    manifest: dict[str, str]  # name -> 8 hex digits of the float id's bits


@dataclass
class FaceInfo:
    name: str
    matte: str | None  # the facemask_<name> layer (None: not written)
    pixels: int  # pixels its matte covers (> 0)
    cryptomatte_id: str | None  # the manifest id, when a Cryptomatte lists it


@dataclass
class PassesInfo:
    path: str
    display_window: tuple[int, int]  # w, h
    data_window: tuple[int, int, int, int]  # x, y, w, h
    layers: dict[str, list[str]]  # layer -> channel suffixes (the unnamed layer is "")
    channel_formats: dict[str, str]
    faces: list[FaceInfo] = field(default_factory=list)
    cryptomattes: list[CryptoInfo] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)  # facecomp:* header entries

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _specs(path: Path) -> list[Any]:
    """The ImageSpec of every part of the file (facecomp's pass files have a second, 32-bit part)."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise FacecompError(f"not a readable EXR ({oiio.geterror().strip() or 'unknown format'})", path)
    specs: list[Any] = []
    while inp.seek_subimage(len(specs), 0):
        specs.append(inp.spec())
    inp.close()
    return specs


def _cryptomattes(attrs: dict[str, str], layers: dict[str, list[str]], path: Path) -> list[CryptoInfo]:
    found: dict[str, dict[str, str]] = {}
    for attr, value in attrs.items():
        m = _CRYPTO_KEY.match(attr)
        if m:
            found.setdefault(m.group(1), {})[m.group(2)] = value
    out = []
    for key, meta in sorted(found.items()):
        try:
            manifest = json.loads(meta.get("manifest") or "{}")
        except ValueError:
            raise FacecompError(f"Cryptomatte {key}: the manifest is not JSON", path) from None
        name = meta.get("name", "")
        ranks = 2 * sum(1 for layer in layers if re.fullmatch(re.escape(name) + r"\d\d", layer))
        out.append(CryptoInfo(key, name, meta.get("hash", ""), meta.get("conversion", ""), ranks,
                              {str(k): str(v) for k, v in manifest.items()}))
    return out


def passes_info(path: str | os.PathLike[str], coverage: bool = True) -> PassesInfo:
    """The layers, faces and Cryptomattes of a pass EXR. ``coverage``: also count each face matte's pixels."""
    p = Path(path)
    if not p.is_file():
        raise FacecompError("no such file", p)
    specs = _specs(p)
    spec = specs[0]
    names = [n for sp in specs for n in sp.channelnames]
    formats = [str(f) for sp in specs for f in (sp.channelformats or [sp.format] * sp.nchannels)]
    layers: dict[str, list[str]] = {}
    for ch in names:
        layer, _, suffix = ch.rpartition(".")
        layers.setdefault(layer, []).append(suffix)
    attrs = {a.name: str(a.value) for sp in specs for a in sp.extra_attribs if isinstance(a.value, str)}
    info = PassesInfo(str(p), (spec.full_width, spec.full_height), (spec.x, spec.y, spec.width, spec.height),
                      layers, dict(zip(names, formats, strict=True)),
                      attributes={k: v for k, v in attrs.items() if k.startswith("facecomp:")})
    info.cryptomattes = _cryptomattes(attrs, layers, p)
    face_names = _face_names(attrs, layers)
    pixels: dict[str, int] = {}
    if coverage and face_names:
        channels, _ = read_exr_layers(p)
        pixels = {n: int(np.count_nonzero(channels[f"facemask_{n}.A"] > 0))
                  for n in face_names if f"facemask_{n}.A" in channels}
    ids = {n: h for c in info.cryptomattes for n, h in c.manifest.items()}
    info.faces = [FaceInfo(n, f"facemask_{n}" if f"facemask_{n}" in layers else None, pixels.get(n, 0), ids.get(n))
                  for n in face_names]
    return info


def _face_names(attrs: dict[str, str], layers: dict[str, list[str]]) -> list[str]:
    """The faces: facecomp's list in the header, else the facemask_<name> layers."""
    try:
        listed = json.loads(attrs.get("facecomp:face_names", "[]"))
    except ValueError:
        listed = []
    names = [str(n) for n in listed] if isinstance(listed, list) else []
    names += [layer[len("facemask_"):] for layer in layers if layer.startswith("facemask_")]
    return list(dict.fromkeys(names))


def describe(info: PassesInfo) -> str:
    """Human-readable summary of :func:`passes_info`."""
    w, h = info.display_window
    x, y, dw, dh = info.data_window
    lines = [f"{info.path}", f"  display window {w}x{h}, data window {dw}x{dh} at ({x}, {y})", "  layers:"]
    for layer, suffixes in info.layers.items():
        fmt = sorted({info.channel_formats[f"{layer}.{s}" if layer else s] for s in suffixes})
        lines.append(f"    {layer or '(rgba)'}: {','.join(suffixes)} ({'/'.join(fmt)})")
    lines.append(f"  faces ({len(info.faces)}):")
    for face in info.faces:
        crypto = f", Cryptomatte id {face.cryptomatte_id}" if face.cryptomatte_id else ""
        lines.append(f"    {face.name}: matte {face.matte or '-'}, {face.pixels} px covered{crypto}")
    for c in info.cryptomattes:
        lines.append(f"  Cryptomatte {c.name} (key {c.key}, {c.hash}, {c.conversion}, {c.ranks} ranks): "
                     f"{', '.join(c.manifest) or 'no manifest'}")
    return "\n".join(lines)
