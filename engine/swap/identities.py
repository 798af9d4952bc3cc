"""Stable face identities of a track: the runs of a face (one track id each, new at cuts and jumps) that show
the same person get one identity and one human name (``face0``, ``face1`` ... in order of first appearance),
so a person who returns after a cut keeps the name.

Each run is embedded on a few of its frames (:class:`engine.faces.identity.FaceEmbedder`, dlib's face
recognition ResNet; the largest faces of the run); runs are then taken in order of first frame and a run joins
the earlier identity whose embeddings are nearest (median of the pairwise distances: one odd frame cannot chain
two people together), when that distance is below :data:`SAME_PERSON_VIDEO` and the identity is not on screen
in any of the run's frames (two faces in one frame are never one person). A run or identity with fewer than
:data:`MIN_SAMPLES` embedded faces (one frame: often a passing false detection, or a face in profile whose
track breaks every frame) must be nearer still, :data:`SAME_PERSON_SINGLE`. Otherwise it starts a new identity.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import FacecompError

log = logging.getLogger("facecomp")

SAMPLES_PER_RUN = 3  # frames of a run that are embedded (its largest faces)
# Stricter than engine.faces.identity.SAME_PERSON (0.42, measured on sharp crops): on video frames (small,
# blurred, in profile) two different people came as close as 0.38 (hard_hamilton_cuts: the singer and the
# pianist), one person as far as 0.32 (small stage shot vs close-up). A missed join only adds a name; a wrong
# join makes two people one matte.
SAME_PERSON_VIDEO = 0.35
MIN_SAMPLES = 2  # embedded faces a run (and an identity) needs to be joined at SAME_PERSON_VIDEO ...
# ... else this: on multiface_pedestrians_1080p a woman in profile whose track broke every frame was 0.20-0.27
# from her identity in most of those frames; on hard_hamilton two one-frame false detections were 0.30-0.33
# from a person they are not.
SAME_PERSON_SINGLE = 0.27
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # a face name becomes an EXR/Nuke layer name


def default_name(identity: int) -> str:
    return f"face{identity}"


def check_names(names: dict[int, str], where: str | None = None) -> None:
    """Face names must be unique, usable in a layer name (letters, digits, _; not starting with a digit) and not
    the selection words ``all`` / ``largest``."""
    seen: dict[str, int] = {}
    for identity, name in names.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in ("all", "largest"):
            raise FacecompError(f"face name {name!r} (identity {identity}): use letters, digits and _, not all or "
                                "largest (it becomes the EXR layer facemask_<name>)", where)
        if name in seen:
            raise FacecompError(f"face name {name!r} is given to identities {seen[name]} and {identity}", where)
        seen[name] = identity


@dataclass
class _Run:
    track_id: int
    frames: set[int]
    first: int
    embeddings: list[np.ndarray] = field(default_factory=list)


@dataclass
class _Person:
    identity: int
    frames: set[int]
    embeddings: list[np.ndarray]


def sample_frames(runs: dict[int, list[tuple[int, float]]], per_run: int = SAMPLES_PER_RUN) -> dict[int, list[int]]:
    """Per track id, the frame numbers to embed: the ``per_run`` frames where its face is largest."""
    return {tid: sorted(n for n, _ in sorted(items, key=lambda x: -x[1])[:per_run]) for tid, items in runs.items()}


def cluster(runs: list[_Run], threshold: float, single: float = SAME_PERSON_SINGLE) -> dict[int, int]:
    """track id -> identity, joining runs of one person (see the module docstring); ``single``: the
    threshold when either side has fewer than :data:`MIN_SAMPLES` embeddings."""
    people: list[_Person] = []
    out: dict[int, int] = {}
    for run in sorted(runs, key=lambda r: (r.first, r.track_id)):
        best, best_d = None, np.inf
        if run.embeddings:
            mine = np.stack(run.embeddings)
            for person in people:
                if not person.embeddings or person.frames & run.frames:
                    continue
                d = float(np.median(np.linalg.norm(mine[:, None, :] - np.stack(person.embeddings)[None], axis=-1)))
                few = min(len(run.embeddings), len(person.embeddings)) < MIN_SAMPLES
                if d < (single if few else threshold) and d < best_d:
                    best, best_d = person, d
        if best is None:
            best = _Person(len(people), set(), [])
            people.append(best)
        best.frames |= run.frames
        best.embeddings.extend(run.embeddings)
        out[run.track_id] = best.identity
    return out


def identify(frames: Iterable[Any], pixels: Callable[[list[int]], Iterable[np.ndarray]], embedder: Any,
             threshold: float) -> dict[int, int]:
    """track id -> identity for the faces of ``frames`` (track frames: ``.number``, ``.faces`` with ``.id`` and
    ``.raw`` landmarks). ``pixels(numbers)`` yields those frames as BGR uint8, in order."""
    sizes: dict[int, list[tuple[int, float]]] = {}
    landmarks: dict[tuple[int, int], np.ndarray] = {}
    for tf in frames:
        for f in tf.faces:
            span = f.raw.max(0) - f.raw.min(0)
            sizes.setdefault(f.id, []).append((tf.number, float(np.hypot(*span))))
            landmarks[(tf.number, f.id)] = f.raw
    runs = {tid: _Run(tid, {n for n, _ in v}, min(n for n, _ in v)) for tid, v in sizes.items()}
    wanted: dict[int, list[int]] = {}
    for tid, numbers in sample_frames(sizes).items():
        for n in numbers:
            wanted.setdefault(n, []).append(tid)
    todo = sorted(wanted)
    for number, img in zip(todo, pixels(todo), strict=True):
        for tid in wanted[number]:
            try:
                runs[tid].embeddings.append(embedder.embed(img, landmarks[(number, tid)]))
            except (RuntimeError, ValueError) as exc:  # dlib refuses a degenerate chip: that sample is skipped
                log.debug("frame %d: face %d not embedded (%s)", number, tid, exc)
    return cluster(list(runs.values()), threshold)


def assign_identities(frames: list[Any], pixels: Callable[[list[int]], Iterable[np.ndarray]]) -> None:
    """Set ``identity`` on every face of the track ``frames`` (see :func:`identify`); without the embedding
    packages each track id stays its own identity (warned)."""
    from engine.faces.identity import FaceEmbedder

    if not any(tf.faces for tf in frames):
        return
    try:
        embedder = FaceEmbedder()
    except FacecompError as exc:
        log.warning("faces are named per track id, not per person: %s", exc)
        return
    people = identify(frames, pixels, embedder, SAME_PERSON_VIDEO)
    for tf in frames:
        for f in tf.faces:
            f.identity = people.get(f.id, f.id)
