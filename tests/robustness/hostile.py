"""The hostile-file corpus: small crafted files that try to make facecomp delete, overwrite, burn CPU or memory,
or hang (issue 19). Every file is made here by code, byte by byte, so what each one does is readable; nothing
binary is committed. Each maker says what the file attacks.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

# pickle opcodes (protocol 2), written out so a crafted stream reads like the attack it is
PROTO2, STOP = b"\x80\x02", b"."
EMPTY_LIST, EMPTY_DICT, MARK, APPENDS, SETITEM, TUPLE = b"]", b"}", b"(", b"e", b"s", b"t"
DUP, POP, NONE, REDUCE, BUILD = b"2", b"0", b"N", b"R", b"b"
TUPLE1, TUPLE2, TUPLE3 = b"\x85", b"\x86", b"\x87"


def put(i: int) -> bytes:
    return b"q" + bytes([i])


def get(i: int) -> bytes:
    return b"h" + bytes([i])


def int1(i: int) -> bytes:
    return b"K" + bytes([i])


def text(s: str) -> bytes:
    raw = s.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def pickle_of(*ops: bytes) -> bytes:
    return PROTO2 + b"".join(ops) + STOP


def fanout(levels: int, width: int, first_memo: int = 0) -> bytes:
    """Ops that leave, in memo ``first_memo + levels - 1``, a list of ``width`` references to a list of ``width``
    references ... (``width ** levels`` values once expanded) in about ``levels * (width + 8)`` bytes."""
    ops = [EMPTY_LIST, MARK, NONE, DUP * (width - 1), APPENDS, put(first_memo), POP]
    for i in range(1, levels):
        ops += [EMPTY_LIST, MARK, get(first_memo + i - 1), DUP * (width - 1), APPENDS, put(first_memo + i), POP]
    return b"".join(ops)


def shared_key_bomb(dicts: int = 2000) -> bytes:
    """A tuple of 200 references to a tuple of 200 references to 200 ints (8 M values, ~1 KB), then ``dicts``
    one-entry dicts keyed by it: every insert hashes 8 M values (the 66 KB DFL face that took ~15 min)."""
    base = MARK + b"".join(int1(i % 256) for i in range(200)) + TUPLE + put(0) + POP
    mid = MARK + get(0) + DUP * 199 + TUPLE + put(1) + POP
    top = MARK + get(1) + DUP * 199 + TUPLE + put(2) + POP
    inserts = (EMPTY_DICT + get(2) + NONE + SETITEM + POP) * dicts
    return pickle_of(base, mid, top, inserts, NONE)


def empty_container_flood(count: int = 1_000_000) -> bytes:
    """``count`` one-byte empty-list opcodes (a 1 MB file that held ~190 MB)."""
    return pickle_of(EMPTY_LIST * count)


def to_plain_bomb() -> bytes:
    """~180 bytes whose value expands to 28**5 (17 M) values when walked (``to_plain``: 10.8 s, 0.8 GB)."""
    return pickle_of(fanout(5, 28), get(4))


def huge_message(levels: int = 5, width: int = 28) -> bytes:
    """A numpy dtype whose byte order is a shared fan-out list: the refusal message printed its repr in full
    (168 bytes -> a 67 MB message)."""
    dtype = b"cnumpy\ndtype\n" + text("f4") + TUPLE1 + REDUCE
    state = int1(3) + get(levels - 1) + NONE + TUPLE3
    return pickle_of(fanout(levels, width), dtype, state, BUILD)


def app15_jpeg(jpeg: bytes, payload: bytes) -> bytes:
    """A JPEG with ``payload`` as DFL's APP15 metadata segment (after SOI)."""
    return jpeg[:2] + b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def dfl_meta_pickle(meta: dict, protocol: int = 4) -> bytes:
    """A DFL metadata dict pickled the way DFL does (tests may use pickle to WRITE files; the engine never does)."""
    import pickle

    return pickle.dumps(meta, protocol=protocol)


def jpeg_header_claiming(width: int, height: int) -> bytes:
    """A baseline grayscale JPEG whose SOF0 header declares ``width`` x ``height`` (no scan data worth decoding)."""
    import cv2
    import numpy as np

    small = cv2.imencode(".jpg", np.zeros((8, 8), np.uint8))[1].tobytes()
    at = small.index(b"\xff\xc0")
    return small[: at + 5] + struct.pack(">HH", height, width) + small[at + 9:]


def png_header_claiming(width: int, height: int) -> bytes:
    """A grayscale PNG whose IHDR declares ``width`` x ``height`` and whose data is one small zlib stream."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def damaged_face_metadata(plain_jpeg: bytes, plain_png: bytes, meta_json: bytes) -> dict[str, bytes]:
    """Face files whose facecomp metadata is damaged (``meta_json``: a real face's metadata, as written): each
    must be a clean error naming the file, and a verb that skips bad faces must skip them."""
    import re

    tag = b"facecomp\x00"
    iend = plain_png.rindex(b"IEND") - 4

    def with_itxt(body: bytes) -> bytes:
        chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body)
                                                                              & 0xFFFFFFFF)
        return plain_png[:iend] + chunk + plain_png[iend:]

    uncompressed = b"facecomp\x00\x00\x00\x00\x00"
    huge = re.sub(rb'"size":\s*\d+', b'"size": 1e400', meta_json)
    return {
        "app11_tag_only.jpg": plain_jpeg[:2] + b"\xff\xeb" + struct.pack(">H", len(tag) + 2) + tag + plain_jpeg[2:],
        "itxt_key_only.png": with_itxt(b"facecomp\x00"),
        "bad_zlib.png": with_itxt(b"facecomp\x00\x01\x00\x00\x00not zlib data"),
        "deep_json.png": with_itxt(uncompressed + b"[" * 100_000 + b"]" * 100_000),
        "huge_number.png": with_itxt(uncompressed + huge),
    }


def deep_json(depth: int = 100_000) -> str:
    """A JSON text nested ``depth`` levels (Python's parser gives up with RecursionError, not ValueError)."""
    return "[" * depth + "]" * depth


def write_all(folder: Path, files: dict[str, bytes]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    return out
