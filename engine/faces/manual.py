"""Faces given from outside instead of detected: the ``--manual frames.json`` file of ``facecomp extract``.

The file is a JSON object mapping a frame (its file name ``00012.png``, stem ``00012`` or number ``"12"``)
to a list of faces; each face gives a box or 68 landmarks::

    {
      "00012.png": [{"rect": [410, 120, 530, 260]}],
      "00013.png": [{"landmarks": [[x, y], ... 68 points in iBUG order]},
                    {"landmarks": [[x, y], ...], "refine": true}]
    }

* ``rect`` [left, top, right, bottom] in frame pixels: the landmarks are found inside the box (FaceMesh,
  with the second pass), as DFL's manual extractor does from a drawn box.
* ``landmarks`` (68 x [x, y], frame pixels): used as given; with ``"refine": true`` they only place the
  crop and the landmarks are re-found (DFL's second pass). ``rect`` is optional then (default: their box).

Only the listed frames are (re-)extracted; their old faces in the faceset are replaced, others are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacecompError


@dataclass
class GivenFace:
    """A face supplied by the user or another tool: a box and/or 68 landmarks (frame pixels)."""

    rect: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    refine: bool = False


def parse_rect(value: Any, where: str) -> np.ndarray:
    r = np.asarray(value, np.float64)
    if r.shape != (4,) or not np.isfinite(r).all() or r[2] <= r[0] or r[3] <= r[1]:
        raise ValueError(f"{where}: a box must be [left, top, right, bottom] with right > left, bottom > top")
    return r


def parse_landmarks(value: Any, where: str) -> np.ndarray:
    p = np.asarray(value, np.float64)
    if p.shape != (68, 2) or not np.isfinite(p).all():
        raise ValueError(f"{where}: landmarks must be 68 [x, y] pairs (got shape {p.shape})")
    return p


def load_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except OSError as exc:
        raise FacecompError(f"cannot read ({exc.strerror})", p) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise FacecompError(f"not valid JSON ({exc})", p) from None


def read_given(path: str | Path, rect_key: str, landmarks_key: str, what: str) -> dict[str, list[GivenFace]]:
    """Parse ``{frame: [{rect_key: box, landmarks_key: 68 points, "refine": bool}, ...]}``; FacecompError
    naming the file and the entry if malformed (``what`` names the kind of file in messages)."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise FacecompError(f"{what} must be a JSON object {{frame: [faces]}}", path)
    out: dict[str, list[GivenFace]] = {}
    try:
        for frame, faces in data.items():
            if not isinstance(faces, list):
                raise ValueError(f"frame {frame!r}: expected a list of faces")
            given = []
            for i, face in enumerate(faces):
                where = f"frame {frame!r} face {i}"
                if not isinstance(face, dict) or face.get(rect_key) is None and face.get(landmarks_key) is None:
                    raise ValueError(f"{where}: each face needs \"{rect_key}\" or \"{landmarks_key}\"")
                rect = parse_rect(face[rect_key], where) if face.get(rect_key) is not None else None
                lm = parse_landmarks(face[landmarks_key], where) if face.get(landmarks_key) is not None else None
                given.append(GivenFace(rect, lm, bool(face.get("refine", False))))
            out[str(frame)] = given
    except ValueError as exc:
        raise FacecompError(str(exc), path) from None
    return out


def read_manual(path: str | Path) -> dict[str, list[GivenFace]]:
    """Parse and validate a manual-extraction file (format in the module docstring)."""
    return read_given(path, "rect", "landmarks", "manual file")


def lookup(given: dict[str, list[GivenFace]], file_name: str, stem: str, number: int) -> list[GivenFace] | None:
    """The faces given for a frame, found by file name, stem or number; None when the frame is not listed."""
    for key in (file_name, stem, str(number)):
        if key in given:
            return given[key]
    return None
