"""Cryptomatte of the faces (Psyop's specification 1.2.0, ../shared/data/cryptomatte/): one id per face name.

Id: MurmurHash3_x86_32 (seed 0) of the UTF-8 name, its bits read as a little-endian float32 after the spec's
exponent fix-up (an exponent of 0 or 255 has its lowest bit toggled, so no id is a denormal, inf or NaN).
Layers ``{typename}00``, ``{typename}01`` ...: ``.R`` id of rank 2k, ``.G`` its coverage, ``.B`` id of rank
2k+1, ``.A`` its coverage; ranks sorted by coverage per pixel, largest first; id 0 with coverage 0 where no face
is. The ids must be stored as 32-bit float (a half would change the id). Metadata per Cryptomatte, keyed by the
first 7 hex digits of the hash of the typename: ``cryptomatte/<key>/name|hash|conversion|manifest``.
"""

from __future__ import annotations

import json
import struct

import mmh3
import numpy as np

TYPENAME = "CryptoFace"
RANKS = 4  # id/coverage pairs per pixel (2 layers); the spec asks for the same count on every frame
HASH, CONVERSION = "MurmurHash3_32", "uint32_to_float32"


def name_hash(name: str) -> int:
    """MurmurHash3_x86_32 (seed 0) of the UTF-8 bytes of ``name``, unsigned."""
    return int(mmh3.hash(name.encode("utf-8"), 0, signed=False))


def id_bits(name: str) -> int:
    """The 32 bits of ``name``'s float id: its hash with the exponent kept within 1..254."""
    bits = name_hash(name)
    exponent = bits >> 23 & 0xFF
    if exponent in (0, 255):
        bits ^= 1 << 23
    return bits


def name_id(name: str) -> np.float32:
    """The float32 id of ``name`` as it is stored in the id channels."""
    return np.float32(struct.unpack("<f", struct.pack("<I", id_bits(name)))[0])


def metadata_key(typename: str) -> str:
    """The metadata key of a Cryptomatte: the first 7 hex digits of the hash of its typename."""
    return f"{name_hash(typename):08x}"[:7]


def manifest(names: list[str]) -> str:
    """The JSON manifest: name -> 8 hex digits of the id's bits."""
    return json.dumps({n: f"{id_bits(n):08x}" for n in names}, ensure_ascii=False, separators=(",", ":"))


def metadata(names: list[str], typename: str = TYPENAME) -> dict[str, str]:
    """The header attributes of one Cryptomatte of ``names``."""
    key = f"cryptomatte/{metadata_key(typename)}/"
    return {key + "name": typename, key + "hash": HASH, key + "conversion": CONVERSION,
            key + "manifest": manifest(names)}


def layer_channels(typename: str = TYPENAME, ranks: int = RANKS) -> list[str]:
    """The channel names of the rank layers, in order."""
    return [f"{typename}{k // 2:02d}.{c}" for k in range(0, ranks, 2) for c in "RGBA"]


def encode(mattes: dict[str, np.ndarray], typename: str = TYPENAME, ranks: int = RANKS) -> dict[str, np.ndarray]:
    """Rank layers of ``mattes`` (name -> HxW coverage 0..1, same size): per pixel, the faces with coverage
    sorted largest first, ``ranks`` of them (the others are dropped). Channels in :func:`layer_channels` order."""
    names = list(mattes)
    channels = layer_channels(typename, ranks)
    if not names:
        return {}
    shape = next(iter(mattes.values())).shape
    out = {c: np.zeros(shape, np.float32) for c in channels}
    cov = np.stack([np.asarray(mattes[n], np.float32).reshape(-1) for n in names])
    where = np.flatnonzero(cov.max(axis=0) > 0)  # only pixels some face covers are ranked
    if where.size == 0:
        return out
    cov = np.clip(cov[:, where], 0.0, 1.0)
    ids = np.array([name_id(n) for n in names], np.float32)
    order = np.argsort(-cov, axis=0, kind="stable")[:ranks]  # ranks x pixels: the faces, largest first
    top = np.take_along_axis(cov, order, axis=0)
    for k in range(min(ranks, len(names))):
        out[channels[2 * k]].reshape(-1)[where] = np.where(top[k] > 0, ids[order[k]], np.float32(0.0))
        out[channels[2 * k + 1]].reshape(-1)[where] = top[k]
    return out
