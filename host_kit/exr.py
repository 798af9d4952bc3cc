"""Read an OpenEXR file's header with the standard library: channel names, data and display windows.

Enough for a host to check what a pass file holds without pixel access (Fusion's Python has none) and to know
where the passes' data window lies (the passes may cover only the faces' bounding box). Scanline and tiled files,
single- and multi-part (facecomp's pass files keep 32-bit ids in a second part); the header layout of the OpenEXR
file format, openexr.com "OpenEXR File Layout": a multi-part file (version flag bit 12) holds one header after
another, each ended by a null byte, and an empty header after the last.
"""

import struct

MAGIC = 20000630
MAX_HEADER_BYTES = 1 << 20


def _cstring(data, pos):
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def read_header(path):
    """{"channels": [names of every part], "dataWindow": (xmin, ymin, xmax, ymax), "displayWindow": (...) of the first
    part, "parts": how many parts}; ValueError if not EXR."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_HEADER_BYTES)
    if len(data) < 8 or struct.unpack("<i", data[:4])[0] != MAGIC:
        raise ValueError("{}: not an OpenEXR file".format(path))
    multipart = bool(struct.unpack("<i", data[4:8])[0] & 0x1000)
    pos, header = 8, {"parts": 0}
    try:
        while True:
            part, pos = _read_attributes(data, pos)
            channels = header.get("channels", []) + part.pop("channels", [])
            header = dict(part, **header)  # windows of the first part
            header["channels"] = channels
            header["parts"] += 1
            if not multipart or data[pos:pos + 1] == b"\0":
                break
    except (ValueError, struct.error, IndexError):
        raise ValueError("{}: damaged OpenEXR header".format(path)) from None
    return header


def _read_attributes(data, pos):
    """One header's attributes from ``pos`` to its null byte: (header, position after the null byte)."""
    header = {}
    while data[pos:pos + 1] != b"\0":
        if pos >= len(data):
            raise ValueError("header runs past the end")
        name, pos = _cstring(data, pos)
        kind, pos = _cstring(data, pos)
        size = struct.unpack("<i", data[pos:pos + 4])[0]
        value = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        if kind == "chlist":
            header[name] = _channels(value)
        elif kind == "box2i":
            header[name] = struct.unpack("<4i", value)
    return header, pos + 1


def _channels(value):
    names, pos = [], 0
    while value[pos:pos + 1] not in (b"\0", b""):
        name, pos = _cstring(value, pos)
        names.append(name)
        pos += 16  # pixel type, pLinear + reserved, x and y sampling
    return names


def data_window_empty(header):
    """True when the data window holds at most one pixel (a frame without a face, CONTRACTS.md)."""
    xmin, ymin, xmax, ymax = header["dataWindow"]
    return (xmax - xmin + 1) * (ymax - ymin + 1) <= 1
