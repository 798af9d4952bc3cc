"""The alignment track of a shot: per frame, per face, the landmarks the merger and the hosts use, smoothed over
time. Precomputing it once per shot is what lets every frame be rendered alone (stateless) yet steady. This
module holds the sidecar file and its use; engine.swap.track_build builds it.

Sidecar format (JSON, ``facecomp track --out shot.track.json``)::

    {"format": "facecomp-track", "version": 1,
     "source": "<frames spec>", "aligned": "<faceset folder>" | null, "image_size": [w, h], "fps": 30.0,
     "smoothing": {"method": "one-euro-forward-backward", "min_cutoff": 1.0, "beta": 4.0, ...} | null,
     "cuts": [frame numbers that start a new shot],
     "xseg": {"model": "<XSeg model path>", "face_type": "whole_face", "resolution": 256} | null,
     "identities": [0, 1],                    # every face's identity (else its id) in the track, ascending
     "names": {"0": "face0", "1": "face1"},   # identity -> the face's name (rename here: letters, digits, _)
     "frames": [{"frame": 1, "name": "00001", "faces": [
         {"id": 0,                      # track id: one continuous run of a face (new id at cuts and jumps)
          "identity": 0,                # the person: the same across cuts (engine.swap.identities)
          "rect": [l, t, r, b],         # detector box, frame px
          "landmarks": [[x, y] x 68],   # landmarks to use (smoothed), frame px
          "raw": [[x, y] x 68],         # landmarks as detected / stored in the faceset
          "score": 1.0, "file": "00001_0.jpg",                      # the faceset file, when built from one
          "xseg_mask": "<base64 PNG>", "xseg_mat": [[..] x 2]}]},  # the face's stored XSeg mask, if any
       ...]}

``xseg_mask`` is an 8-bit PNG of the face's XSeg mask in its own aligned square, ``xseg_mat`` the 2x3 matrix
frame px -> that square. They come from the faceset's applied masks, or, when the track was built with an XSeg
model (``facecomp track --xseg-model``; the header's ``"xseg"`` names it, else null or absent), from that model
run on every face at the final landmarks, in the model's face type and resolution. The XSeg-dst mask mode uses
a face's stored mask first and runs a live XSeg model only for faces without one.

Every frame of the source (or of the chosen ``frames``) is listed, also those without faces (``"faces": []``).
Faces of a frame are ordered largest first. Tracks are cut where the picture changes abruptly (frame
difference), and a face whose landmarks jump (or that cannot be matched to the previous frame) starts a new id;
runs of ids that show the same person (identity embedding) then share one identity and name, which the
passes (per-face mattes, Cryptomatte) and ``--faces NAME`` use. A track without identities names each id.

The header (every field but ``frames``) is written first and ``frames`` last, so a host can name the faces
(``identities`` through ``names``) from the head of the file without reading the frames and their masks
(host_kit.track.face_names). ``identities`` must match the frames' faces (a track whose frames were edited
without it fails to load); tracks written before it have none and still load.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import atomic
from engine.errors import FacecompError
from engine.faces.faceset import decode_mask
from engine.swap.filters import motion_vector
from engine.swap.identities import check_names, default_name
from engine.swap.paste_face import FaceInput

FORMAT, VERSION = "facecomp-track", 1
LANDMARK_DECIMALS = 3  # landmarks are stored rounded to this (the XSeg masks are computed on them as stored)
MAX_TRACK_BYTES = 512 << 20


@dataclass
class TrackFace:
    """One face in one frame of the track."""

    id: int
    rect: np.ndarray
    landmarks: np.ndarray
    raw: np.ndarray
    score: float = 1.0
    file: str | None = None
    xseg_mask: str | None = None
    xseg_mat: np.ndarray | None = None
    eyebrows_expand_mod: float = 1.0
    identity: int | None = None  # the person (None: the track id)

    @property
    def person(self) -> int:
        """Whom the face shows: its identity, else (a track built without identities) its track id."""
        return self.id if self.identity is None else self.identity

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, **({"identity": self.identity} if self.identity is not None else {}),
                             "rect": np.round(self.rect, 2).tolist(),
                             "landmarks": np.round(self.landmarks, LANDMARK_DECIMALS).tolist(),
                             "raw": np.round(self.raw, LANDMARK_DECIMALS).tolist(),
                             "score": round(float(self.score), 4)}
        if self.file:
            d["file"] = self.file
        if self.xseg_mask:
            d["xseg_mask"] = self.xseg_mask
            d["xseg_mat"] = np.round(self.xseg_mat, 6).tolist() if self.xseg_mat is not None else None
        if self.eyebrows_expand_mod != 1.0:
            d["eyebrows_expand_mod"] = self.eyebrows_expand_mod
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> TrackFace:
        try:
            lm = np.asarray(d["landmarks"], np.float64)
            raw = np.asarray(d.get("raw", d["landmarks"]), np.float64)
            rect = np.asarray(d.get("rect") or [*lm.min(0), *lm.max(0)], np.float64)
            if lm.shape != (68, 2) or raw.shape != (68, 2) or rect.shape != (4,):
                raise ValueError("landmarks must be 68x2 and rect 4 numbers")
            if not (np.isfinite(lm).all() and np.isfinite(raw).all()):
                raise ValueError("non-finite landmarks")
            mat = d.get("xseg_mat")
            return cls(int(d.get("id", 0)), rect, lm, raw, float(d.get("score", 1.0)), d.get("file"),
                       d.get("xseg_mask"), np.asarray(mat, np.float64).reshape(2, 3) if mat is not None else None,
                       float(d.get("eyebrows_expand_mod", 1.0)),
                       int(d["identity"]) if d.get("identity") is not None else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise FacecompError(f"damaged track face ({exc})", where) from None


@dataclass
class TrackFrame:
    number: int
    name: str
    faces: list[TrackFace] = field(default_factory=list)


@dataclass
class Track:
    """The alignment track of one shot (see the module docstring for the file format)."""

    frames: dict[int, TrackFrame]
    source: str = ""
    aligned: str | None = None
    image_size: tuple[int, int] = (0, 0)
    fps: float = 30.0
    smoothing: dict[str, Any] | None = None
    cuts: list[int] = field(default_factory=list)
    path: str | None = None
    names: dict[int, str] = field(default_factory=dict)  # identity -> name (missing: face<identity>)
    xseg: dict[str, Any] | None = None  # what made the faces' XSeg masks (model, face_type, resolution), if a model

    # ---- file -------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        data = {"format": FORMAT, "version": VERSION, "source": self.source, "aligned": self.aligned,
                "image_size": list(self.image_size), "fps": self.fps, "smoothing": self.smoothing,
                "cuts": self.cuts, "xseg": self.xseg, "identities": self.identities(), "names": self._names_table(),
                "frames": [{"frame": f.number, "name": f.name, "faces": [x.to_json() for x in f.faces]}
                           for f in self.frames.values()]}
        atomic.write_text(path, json.dumps(data, separators=(",", ":")))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Track:
        p = Path(path)
        try:
            if p.stat().st_size > MAX_TRACK_BYTES:
                raise FacecompError("track file larger than 512 MiB", p)
            data = json.loads(p.read_text("utf-8"))
        except FileNotFoundError:
            raise FacecompError("no such track file", p) from None
        except OSError as exc:
            raise FacecompError(f"cannot read track ({exc.strerror})", p) from None
        except (UnicodeDecodeError, ValueError):
            raise FacecompError("not a track file (not valid JSON)", p) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FacecompError(f"not a facecomp track (format is not {FORMAT!r})", p)
        if int(data.get("version", 0)) > VERSION:
            raise FacecompError(f"track version {data.get('version')} is newer than this facecomp reads", p)
        frames: dict[int, TrackFrame] = {}
        try:
            for entry in data["frames"]:
                n = int(entry["frame"])
                frames[n] = TrackFrame(n, str(entry.get("name", n)),
                                       [TrackFace.from_json(f, str(p)) for f in entry.get("faces", [])])
            size = tuple(int(v) for v in data.get("image_size", (0, 0)))
            names = {int(k): v for k, v in (data.get("names") or {}).items()}
            xseg = data.get("xseg")  # absent in tracks written before masks could be computed: None
            if xseg is not None and not isinstance(xseg, dict):
                raise ValueError("xseg must be an object or null")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FacecompError(f"damaged track ({exc})", p) from None
        check_names(names, str(p))
        track = cls(frames, str(data.get("source", "")), data.get("aligned"), size,  # type: ignore[arg-type]
                    float(data.get("fps", 30.0)), data.get("smoothing"), [int(c) for c in data.get("cuts", [])],
                    str(p), names, xseg)
        header = data.get("identities")  # absent in tracks written before it: nothing to check
        if header is not None and header != track.identities():
            raise FacecompError(f"damaged track: its header lists identities {header}, its faces have "
                                f"{track.identities()} (re-run facecomp track)", p)
        check_names({int(k): v for k, v in track._names_table().items()}, str(p))  # with the default names too
        return track

    def identities(self) -> list[int]:
        """Every face's identity (its ``person``) in the track, ascending: the header's ``identities``."""
        return sorted({f.person for tf in self.frames.values() for f in tf.faces})

    def _names_table(self) -> dict[str, str]:
        """identity -> name of every face of the track (written in full so that renaming is one edit)."""
        return {str(i): self.names.get(i, default_name(i)) for i in self.identities()}

    # ---- use --------------------------------------------------------------------------------------------
    def name_of(self, face: TrackFace) -> str:
        """The face's stable name: its identity's name in ``names`` (default ``face<identity>``)."""
        return self.names.get(face.person, default_name(face.person))

    @functools.cached_property
    def face_names(self) -> list[str]:
        """The names of every face of the shot, by identity (host_kit.track.face_names reads the same from the
        file's header)."""
        return list(self._names_table().values())

    def faces(self, number: int, frame_size: tuple[int, int] | None = None) -> list[FaceInput]:
        """The faces of frame ``number`` ready for the swap (landmarks, XSeg mask, motion from neighbours).
        ``frame_size`` (w, h) of the plate is checked against the track's, to catch a track of another shot."""
        if frame_size is not None and self.image_size != (0, 0) and tuple(frame_size) != tuple(self.image_size):
            w, h = self.image_size
            raise FacecompError(f"track is for {w}x{h} frames, the plate is {frame_size[0]}x{frame_size[1]} "
                                "(a track of another shot?)", self.path)
        if number not in self.frames:
            first, last = min(self.frames, default=0), max(self.frames, default=0)
            raise FacecompError(f"frame {number} is not in the track (it covers {first}-{last}); "
                                "re-run facecomp track for this plate", self.path)
        out = []
        current = self.frames[number].faces
        for tf in current:
            mask = decode_mask(tf.xseg_mask, self.path) if tf.xseg_mask else None
            out.append(FaceInput(tf.landmarks, tf.rect, mask, tf.xseg_mat if mask is not None else None,
                                 self._motion(number, tf), tf.eyebrows_expand_mod, self.name_of(tf)))
        return out

    def _motion(self, number: int, face: TrackFace) -> tuple[float, float] | None:
        """DFL's motion vector, only where the previous, this and the next frame have this one face alone."""
        prev, nxt = self.frames.get(number - 1), self.frames.get(number + 1)
        if not prev or not nxt or len(self.frames[number].faces) != 1 or len(prev.faces) != 1 or len(nxt.faces) != 1:
            return None
        if prev.faces[0].id != face.id or nxt.faces[0].id != face.id:
            return None
        return motion_vector(prev.faces[0].landmarks, face.landmarks, nxt.faces[0].landmarks)

    @property
    def numbers(self) -> list[int]:
        return list(self.frames)
