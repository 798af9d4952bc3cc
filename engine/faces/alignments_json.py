"""faceswap-style alignments JSON: ``{frame file name: [{"detected": [x1, y1, x2, y2], "landmarks_2d": [[x, y]
x 68]}, ...]}`` in frame pixels, so face tracking done elsewhere can drive extraction and ours can be reused.

Import: every frame listed gets exactly the faces given (68 landmarks used as they are; a face with only a
box gets landmarks found inside it); frames not listed have no face. Export: every face of a faceset,
grouped by its source frame, in face-index order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine import atomic
from engine.faces.manual import GivenFace, read_given


def read_alignments(path: str | Path) -> dict[str, list[GivenFace]]:
    """Faces per frame from an alignments file; FacecompError naming the file and entry if malformed."""
    return read_given(path, "detected", "landmarks_2d", "alignments")


def faceset_alignments(folder: str | Path) -> dict[str, list[dict]]:
    """Alignments of every face in a faceset folder (source rect and source landmarks), by source frame."""
    from engine.faces.faceset import list_faces, read_meta

    rows: dict[str, list[tuple[int, dict]]] = {}
    for f in list_faces(folder):
        m = read_meta(f)
        entry = {"detected": [round(float(v), 2) for v in m.source_rect],
                 "landmarks_2d": np.round(np.asarray(m.source_landmarks, np.float64), 2).tolist()}
        rows.setdefault(m.source_filename, []).append((m.face_index, entry))
    return {k: [e for _, e in sorted(v, key=lambda t: t[0])] for k, v in sorted(rows.items())}


def write_alignments(path: str | Path, alignments: dict[str, list[dict]]) -> None:
    """Write an alignments file atomically."""
    atomic.write_text(Path(path), json.dumps(alignments, indent=1) + "\n")
