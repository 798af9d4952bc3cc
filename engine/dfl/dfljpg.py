"""DeepFaceLab's aligned face images (DFLJPG): a JPEG whose APP15 segment holds a pickled metadata dict.

The segment is ``FF EF``, a big-endian length (payload + 2), then the payload (at most 65,533 bytes). It is
read only through :mod:`engine.dfl.safe_unpickle`, so a crafted file cannot run code. The JPEG pixels are
untouched: :func:`strip_app15` gives the same file without DFL's segment, byte for byte otherwise.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.dfl.safe_unpickle import loads_dfl_data, read_limited
from engine.errors import FacecompError

APP15 = 0xEF
MAX_JPEG_BYTES = 256 << 20  # an aligned face is a few hundred KB; a frame-size mark_only face a few MB


@dataclass
class DflJpg:
    """One DFLJPG file: its bytes, the decoded metadata dict and where the APP15 segment sits."""

    path: Path
    data: bytes
    meta: dict[str, Any]
    segment: tuple[int, int]  # start, end of the (last) APP15 segment


def jpeg_segments(data: bytes, path: str | os.PathLike[str]) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each header segment before the scan; FacecompError if not a JPEG."""
    if data[:2] != b"\xff\xd8":
        raise FacecompError("not a JPEG file", path)
    pos = 2
    segs: list = []
    while True:
        if pos + 4 > len(data):
            raise FacecompError("damaged JPEG (ends inside its header)", path)
        if data[pos] != 0xFF:
            raise FacecompError("damaged JPEG header", path)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: headers end
            return segs
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2: pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise FacecompError("damaged JPEG header (segment length)", path)
        segs.append((marker, pos, pos + 2 + length))
        pos += 2 + length


def parse_dfljpg(data: bytes, path: str | os.PathLike[str]) -> DflJpg:
    """Decode the DFL metadata of JPEG ``data``; FacecompError naming ``path`` if absent or damaged."""
    app15 = [(s, e) for m, s, e in jpeg_segments(data, path) if m == APP15]
    if not app15:
        raise FacecompError("not a DeepFaceLab face (no APP15 metadata segment)", path)
    start, end = app15[-1]  # DFL keeps one; its reader lets the last one win
    meta = loads_dfl_data(data[start + 4: end], path)
    if not isinstance(meta, dict):
        raise FacecompError(f"damaged DeepFaceLab metadata (a {type(meta).__name__}, not a dict)", path)
    return DflJpg(Path(path), data, meta, (start, end))


def read_dfljpg(path: str | os.PathLike[str]) -> DflJpg:
    """Read one DFLJPG file."""
    return parse_dfljpg(read_limited(path, MAX_JPEG_BYTES, "an aligned face"), path)


def strip_app15(data: bytes, path: str | os.PathLike[str]) -> bytes:
    """The JPEG without its APP15 segments; every other byte (pixels included) unchanged."""
    out, pos = [], 0
    for marker, start, end in jpeg_segments(data, path):
        if marker == APP15:
            out.append(data[pos:start])
            pos = end
    out.append(data[pos:])
    return b"".join(out)
