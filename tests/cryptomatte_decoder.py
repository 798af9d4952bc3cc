"""A Cryptomatte decoder written from the specification alone (../shared/data/cryptomatte/, version 1.2.0),
independent of facecomp's encoder: it reads the renderer-written reference files and facecomp's passes alike.

Per Cryptomatte found in the header (``cryptomatte/<key>/name|hash|conversion|manifest``): the rank layers
``<name>00``, ``<name>01`` ... (channel suffixes R/G/B/A or red/green/blue/alpha), the manifest (name -> 8 hex
digits of the float id's bits) and, for any name, its id computed as the spec's Python example does.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import mmh3
import numpy as np
import OpenImageIO as oiio

SUFFIXES = (("R", "G", "B", "A"), ("red", "green", "blue", "alpha"))


def mm3hash_float(name: str) -> float:
    """The spec's example: MurmurHash3_32 of the UTF-8 name, exponent 0/255 toggled, bits as float32."""
    hash_32 = mmh3.hash(name.encode("utf-8"))
    exp = hash_32 >> 23 & 255
    if exp in (0, 255):
        hash_32 ^= 1 << 23
    return struct.unpack("<f", struct.pack("<L", hash_32 & 0xFFFFFFFF))[0]


def hex_to_float(hex_id: str) -> float:
    """A manifest value (8 hex digits of the float's bits) as the float."""
    return struct.unpack(">f", bytes.fromhex(hex_id))[0]


@dataclass
class Cryptomatte:
    key: str
    name: str
    hash: str
    conversion: str
    manifest: dict[str, str]
    ranks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (id, coverage) per rank

    def matte(self, name: str) -> np.ndarray:
        """Coverage of ``name``: the sum over the ranks of the coverage where the id is ``name``'s."""
        want = np.float32(mm3hash_float(name))
        out = np.zeros(self.ranks[0][0].shape, np.float32)
        for ids, cov in self.ranks:
            out += np.where(ids == want, cov, 0.0).astype(np.float32)
        return out

    def ids(self) -> set[float]:
        """Every non-zero id found in the rank channels."""
        found: set[float] = set()
        for ids, cov in self.ranks:
            found |= set(np.unique(ids[cov > 0]).tolist())
        return found - {0.0}


def _channels(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Channels and string attributes of every part of the file (a Cryptomatte may sit in any part)."""
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    channels: dict[str, np.ndarray] = {}
    attrs: dict[str, str] = {}
    part = 0
    while inp.seek_subimage(part, 0):
        spec = inp.spec()
        px = np.asarray(inp.read_image(part, 0, 0, spec.nchannels, "float"), np.float32)
        px = px.reshape(spec.height, spec.width, spec.nchannels)
        channels.update({n: px[..., i] for i, n in enumerate(spec.channelnames)})
        attrs.update({a.name: a.value for a in spec.extra_attribs if isinstance(a.value, str)})
        part += 1
    inp.close()
    return channels, attrs


def decode(path: str | Path) -> dict[str, Cryptomatte]:
    """The Cryptomattes of an EXR, by typename (pixels over the data window)."""
    channels, attrs = _channels(Path(path))
    found: dict[str, dict[str, str]] = {}
    for attr, value in attrs.items():
        m = re.fullmatch(r"cryptomatte/([0-9a-zA-Z]{1,7})/(name|hash|conversion|manifest|manif_file)", attr)
        if m:
            found.setdefault(m.group(1), {})[m.group(2)] = value
    out: dict[str, Cryptomatte] = {}
    for key, meta in found.items():
        manifest = json.loads(meta["manifest"]) if meta.get("manifest") else {}
        if "manif_file" in meta:
            manifest = json.loads((Path(path).parent / meta["manif_file"]).read_text("utf-8"))
        c = Cryptomatte(key, meta["name"], meta["hash"], meta["conversion"], manifest)
        for layer in range(100):
            prefix = f"{c.name}{layer:02d}."
            suffix = next((s for s in SUFFIXES if prefix + s[0] in channels), None)
            if suffix is None:
                break
            r, g, b, a = (channels[prefix + s] for s in suffix)
            c.ranks += [(r, g), (b, a)]
        out[c.name] = c
    return out
