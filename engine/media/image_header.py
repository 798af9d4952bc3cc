"""Width and height of an encoded PNG or JPEG from its header, without decoding a pixel: a file's header
is checked against what its pixels may cost before the decoder allocates them (decompression bombs)."""

from __future__ import annotations

import struct

_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): every SOFn except DHT/JPG/DAC
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def encoded_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) a PNG or JPEG header declares; None when ``data`` is neither or its header is damaged."""
    if data[:8] == _PNG and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            pos += 2
            continue
        if marker == 0xDA:
            return None  # scan before any frame header
        (length,) = struct.unpack(">H", data[pos + 2: pos + 4])
        if marker in _SOF and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5: pos + 9])
            return int(width), int(height)
        if length < 2:
            return None
        pos += 2 + length
    return None
