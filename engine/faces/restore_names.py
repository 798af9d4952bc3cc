"""Give sorted faces their original names back (DFL's "recover original aligned filename" chore).

``facecomp sort`` renames faces to their rank (``00000.jpg`` ...); every face still carries the frame it came
from (``source_filename``) and its index in that frame, so the extractor's ``<frame stem>_<index>.jpg`` name can
be rebuilt. Renames go through temporary names first, so swapping two names never overwrites a face.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from engine.errors import FacecompError
from engine.faces.faceset import list_faces, read_meta


def original_name(path: Path) -> str:
    """``<source frame stem>_<face index><suffix>``, as the extractor names a face."""
    meta = read_meta(path)
    stem = Path(meta.source_filename).stem if meta.source_filename else f"{meta.source_frame:05d}"
    return f"{stem}_{meta.face_index}{path.suffix.lower()}"


def restore_names(folder: str | os.PathLike[str], dry_run: bool = False) -> list[tuple[str, str]]:
    """Rename every face of ``folder`` to its original name; returns the (old, new) pairs that changed."""
    d = Path(folder)
    faces = list_faces(d)
    if not faces:
        raise FacecompError("no face files here", d)
    plan: dict[Path, str] = {}
    taken: set[str] = set()
    for face in faces:
        name = original_name(face)
        base, n = Path(name), 1
        while name in taken:  # two faces claiming one name (a frame extracted twice): keep both
            name, n = f"{base.stem}_{n}{base.suffix}", n + 1
        taken.add(name)
        plan[face] = name
    moving = {face: name for face, name in plan.items() if face.name != name}
    others = {p.name for p in d.iterdir()} - {f.name for f in faces}
    clash = sorted(set(moving.values()) & others)
    if clash:
        raise FacecompError(f"{clash[0]} exists and is not a face of this faceset; move it away first", d)
    if not dry_run:
        token = uuid.uuid4().hex[:8]
        staged = []
        for face, name in moving.items():
            tmp = face.with_name(f".{token}.{face.name}")
            face.rename(tmp)
            staged.append((tmp, d / name))
        for tmp, final in staged:
            tmp.rename(final)
    return [(face.name, name) for face, name in moving.items()]
