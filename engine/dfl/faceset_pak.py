"""DeepFaceLab's ``faceset.pak`` (its ``faceset pack`` chore), read without running its pickle, and the
``faceset unpack`` dispatcher between it and facecomp's own pack (:mod:`engine.faces.faceset_pack`).

A ``faceset.pak`` is a header of two little-endian uint64 (version 1, length of a pickled list of sample
descriptions), that pickle, then an offset table of N+1 uint64 and the N face files. The pickle is only read
for the file names, first with the restricted reader of :mod:`engine.dfl.safe_unpickle`; when it holds objects
that reader refuses (DFL's own ``SampleType`` enum), the names are picked from its opcodes by
:func:`_pickled_filenames` without running it. The faces are then converted as ``import-dfl faceset`` does.
"""

from __future__ import annotations

import logging
import os
import pickletools
import struct
import tempfile
from pathlib import Path
from typing import Any

from engine.dfl.faceset_import import import_faceset
from engine.dfl.safe_unpickle import loads_dfl_data
from engine.errors import FacecompError
from engine.faces.faceset_pack import MAX_FACE_BYTES, MAX_FACES, check_name, unpack_pack

log = logging.getLogger("facecomp")

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}


def _pickled_filenames(data: bytes, where: Path) -> list[str]:
    """The string values stored under the key ``filename`` in a pickle, read from its opcodes (never run)."""
    memo: dict[int, Any] = {}
    names: list[str] = []
    last: Any = None
    pending = False
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "MEMOIZE":
                memo[len(memo)] = last
                continue
            if op.name in _PUT_OPS:
                memo[int(arg or 0)] = last
                continue
            if op.name in _STRING_OPS:
                last = arg.decode("latin-1") if isinstance(arg, bytes) else arg
            elif op.name in _GET_OPS:
                last = memo.get(int(arg or 0))
            else:
                last = None
            if pending and isinstance(last, str):
                names.append(last)
            pending = last == "filename" and not pending
    except (ValueError, struct.error) as exc:
        raise FacecompError(f"damaged DeepFaceLab faceset.pak (sample list: {exc})", where) from None
    return names


def _dfl_names(data: bytes, where: Path) -> list[str] | None:
    try:
        samples = loads_dfl_data(data, where)
    except FacecompError:
        return _pickled_filenames(data, where) or None
    if isinstance(samples, list) and all(isinstance(s, dict) and isinstance(s.get("filename"), str)
                                         for s in samples):
        return [s["filename"] for s in samples]
    return None


def read_dfl_pak(pak: Path) -> list[tuple[str, bytes]]:
    """The face files of a DeepFaceLab ``faceset.pak`` as (file name, bytes)."""
    size = pak.stat().st_size
    with open(pak, "rb") as f:
        head = f.read(16)
        if len(head) != 16:
            raise FacecompError("not a DeepFaceLab faceset.pak (too short)", pak)
        version, list_len = struct.unpack("<QQ", head)
        if version != 1 or list_len > size - 16:
            raise FacecompError(f"not a DeepFaceLab faceset.pak (version {version})", pak)
        names = _dfl_names(f.read(list_len), pak)
        table_start = 16 + list_len
        first = f.read(8)
        if len(first) != 8:
            raise FacecompError("damaged DeepFaceLab faceset.pak (no offset table)", pak)
        (first_offset,) = struct.unpack("<Q", first)
        count = first_offset // 8 - 1
        if first_offset % 8 or not 0 < count <= MAX_FACES or table_start + first_offset > size:
            raise FacecompError("damaged DeepFaceLab faceset.pak (offset table)", pak)
        offsets = [first_offset, *struct.unpack(f"<{count}Q", f.read(8 * count))]
        if any(b < a or b - a > MAX_FACE_BYTES for a, b in zip(offsets, offsets[1:], strict=False)) \
                or table_start + offsets[-1] > size:
            raise FacecompError("damaged DeepFaceLab faceset.pak (offsets out of order or past the end)", pak)
        if names is None or len(names) != count:
            log.warning("%s: file names not readable; the faces are numbered", pak)
            names = [f"{i:05d}.jpg" for i in range(count)]
        files = []
        for name, a, b in zip(names, offsets, offsets[1:], strict=False):
            f.seek(table_start + a)
            files.append((check_name(Path(name).name, pak), f.read(b - a)))
    return files


def _unpack_dfl(pak: Path, out: Path, overwrite: bool) -> int:
    files = read_dfl_pak(pak)
    if not overwrite:
        taken = [n for n, _ in files if (out / n).exists()]
        if taken:
            raise FacecompError(f"{taken[0]} already exists there (give --overwrite)", out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".dflpak_", dir=out.parent) as tmp:
        for name, data in files:
            (Path(tmp) / name).write_bytes(data)
        report = import_faceset(tmp, out)
    for skipped in report.skipped:
        log.warning("%s: skipped (%s)", skipped["file"], skipped["reason"])
    return len(report.imported)


def unpack_faceset(pack: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                   overwrite: bool = False) -> int:
    """Unpack a facecomp pack, or import a DFL ``faceset.pak``, into ``out`` (default: the pack's folder)."""
    p = Path(pack)
    if not p.is_file():
        raise FacecompError("no such faceset pack", p)
    target = Path(out) if out is not None else p.parent
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":
        return unpack_pack(p, target, overwrite)
    return _unpack_dfl(p, target, overwrite)
