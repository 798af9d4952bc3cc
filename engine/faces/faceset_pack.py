"""One file for a whole faceset (DeepFaceLab's ``faceset pack/unpack`` chore), in a safe format.

facecomp's pack is an uncompressed zip: the face files as they are (JPEG/PNG with their metadata inside) plus
``facecomp-faceset.json``, an index of every face with its size and SHA-256. Unpacking checks every name
(plain file names with a face suffix only), size and hash before anything is written; nothing is ever
unpickled or executed.

DeepFaceLab's ``faceset.pak`` is read too (then converted with ``import-dfl faceset``): a header of two
little-endian uint64 (version 1, length of a pickled list of sample descriptions), that pickle, then an offset
table of N+1 uint64 and the N face files. The pickle is only read for the file names, first with the
restricted reader of :mod:`engine.dfl.safe_unpickle`; when it holds objects that reader refuses (DFL's own
``SampleType`` enum), the names are picked from its opcodes by :func:`_pickled_filenames` without running it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickletools
import re
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import atomic
from engine.errors import FacecompError
from engine.faces.faceset import FACE_EXTS, list_faces

log = logging.getLogger("facecomp")

INDEX = "facecomp-faceset.json"
FORMAT = "facecomp-faceset-pack"
VERSION = 1
PACK_NAME = "faceset.zip"
DFL_PAK_NAME = "faceset.pak"
MAX_FACES = 2_000_000
MAX_FACE_BYTES = 256 << 20
MAX_INDEX_BYTES = 512 << 20
_SAFE_NAME = re.compile(r"^[^/\\:\x00]{1,255}$")
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}


@dataclass
class PackReport:
    path: Path
    faces: int
    bytes: int


def _check_name(name: str, where: Path) -> str:
    if not _SAFE_NAME.match(name) or name in (".", "..") or name.startswith(".") \
            or Path(name).suffix.lower() not in FACE_EXTS:
        raise FacecompError(f"refusing the entry {name[:80]!r}: not a plain face file name", where)
    return name


def pack_faceset(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 remove: bool = False) -> PackReport:
    """Pack every face of ``folder`` into ``out`` (default FOLDER/faceset.zip); ``remove`` deletes the packed
    face files afterwards (DFL does), only once the pack is complete on disk."""
    src = Path(folder)
    faces = list_faces(src)
    if not faces:
        raise FacecompError("no face files to pack", src)
    target = Path(out) if out is not None else src / PACK_NAME
    index: list[dict[str, Any]] = []
    with atomic.atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for face in faces:
            data = face.read_bytes()
            index.append({"name": face.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            zf.writestr(face.name, data)
        zf.writestr(INDEX, json.dumps({"format": FORMAT, "version": VERSION, "faces": index}, indent=1))
    if remove:
        for face in faces:
            face.unlink()
    return PackReport(target, len(index), target.stat().st_size)


def _read_index(zf: zipfile.ZipFile, where: Path) -> list[dict[str, Any]]:
    try:
        info = zf.getinfo(INDEX)
    except KeyError:
        raise FacecompError(f"not a facecomp faceset pack ({INDEX} missing)", where) from None
    if info.file_size > MAX_INDEX_BYTES:
        raise FacecompError("faceset pack index too large", where)
    try:
        doc = json.loads(zf.read(INDEX))
    except (ValueError, UnicodeDecodeError):
        raise FacecompError("damaged faceset pack index (not JSON)", where) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("faces"), list):
        raise FacecompError("not a facecomp faceset pack (wrong index format)", where)
    if doc.get("version") != VERSION:
        raise FacecompError(f"faceset pack version {doc.get('version')!r} is not supported (need {VERSION})", where)
    faces = doc["faces"]
    if len(faces) > MAX_FACES:
        raise FacecompError(f"faceset pack lists {len(faces)} faces (limit {MAX_FACES})", where)
    names: set[str] = set()
    for entry in faces:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("bytes"), int) or not isinstance(entry.get("sha256"), str):
            raise FacecompError("damaged faceset pack index entry", where)
        name = _check_name(entry["name"], where)
        if name in names:
            raise FacecompError(f"faceset pack lists {name} twice", where)
        names.add(name)
    extra = {i.filename for i in zf.infolist()} - names - {INDEX}
    if extra:
        raise FacecompError(f"faceset pack holds files its index does not list ({sorted(extra)[0][:80]})", where)
    return faces


def _unpack_zip(pack: Path, out: Path, overwrite: bool) -> int:
    try:
        zf = zipfile.ZipFile(pack)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FacecompError(f"damaged faceset pack ({exc})", pack) from None
    with zf:
        faces = _read_index(zf, pack)
        for entry in faces:  # every check before the first write
            try:
                info = zf.getinfo(entry["name"])
            except KeyError:
                raise FacecompError(f"{entry['name']} is listed but missing", pack) from None
            if info.file_size != entry["bytes"] or info.file_size > MAX_FACE_BYTES:
                raise FacecompError(f"{entry['name']}: size {info.file_size} differs from the index", pack)
            if not overwrite and (out / entry["name"]).exists():
                raise FacecompError(f"{entry['name']} already exists there (give --overwrite)", out)
        blobs = []
        for entry in faces:
            data = zf.read(entry["name"])
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise FacecompError(f"{entry['name']}: SHA-256 differs from the index (damaged pack)", pack)
            blobs.append((entry["name"], data))
    out.mkdir(parents=True, exist_ok=True)
    for name, data in blobs:
        atomic.write_bytes(out / name, data)
    return len(blobs)


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
    from engine.dfl.safe_unpickle import loads_dfl_data

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
            files.append((_check_name(Path(name).name, pak), f.read(b - a)))
    return files


def _unpack_dfl(pak: Path, out: Path, overwrite: bool) -> int:
    from engine.dfl.faceset_import import import_faceset

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
        return _unpack_zip(p, target, overwrite)
    return _unpack_dfl(p, target, overwrite)
