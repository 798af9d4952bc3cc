"""One file for a whole faceset (DeepFaceLab's ``faceset pack/unpack`` chore), in a safe format.

facecomp's pack is an uncompressed zip: the face files as they are (JPEG/PNG with their metadata inside) plus
``facecomp-faceset.json``, an index of every face with its size and SHA-256. Unpacking checks every name
(plain file names with a face suffix only), size and hash before anything is written; nothing is ever
unpickled or executed.

DeepFaceLab's ``faceset.pak`` is read by :mod:`engine.dfl.faceset_pak`, which also dispatches ``faceset
unpack`` between the two formats.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
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


@dataclass
class PackReport:
    path: Path
    faces: int
    bytes: int


def check_name(name: str, where: Path) -> str:
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
        name = check_name(entry["name"], where)
        if name in names:
            raise FacecompError(f"faceset pack lists {name} twice", where)
        names.add(name)
    extra = {i.filename for i in zf.infolist()} - names - {INDEX}
    if extra:
        raise FacecompError(f"faceset pack holds files its index does not list ({sorted(extra)[0][:80]})", where)
    return faces


def unpack_pack(pack: Path, out: Path, overwrite: bool) -> int:
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
