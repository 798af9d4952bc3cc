"""``facecomp sort``: DeepFaceLab's faceset sort methods (dfl.md §4) plus ``identity``.

A method gives an order of the faces and possibly a set to reject. The faces kept are renamed ``00000.jpg``,
``00001.jpg`` ... in that order (as DFL; the extension and the embedded metadata are kept, pixels are not
re-encoded); rejected faces, and files without faceset metadata, are moved to ``<DIR>_trash`` (never
deleted). Renaming goes through temporary names, so names never collide.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import FacecompError
from engine.faces import sort_measures as sm
from engine.faces.faceset import FaceMeta, read_meta, require_faces
from engine.faces.masks import hull_mask
from engine.media.image_io import read_image
from engine.options import Option
from engine.progress import progress

METHODS = {
    "blur": "sharpness (CPBD-style edge widths) of the landmark-hull area, sharpest first",
    "motion-blur": "variance of the Laplacian (kernel 11) of the hull area, least blurred first",
    "face-yaw": "head yaw from the landmarks, one side to the other",
    "face-pitch": "head pitch from the landmarks, up to down",
    "face-source-rect-size": "size of the face in its source frame, largest first",
    "hist": "similar colour histograms next to each other (greedy chain)",
    "hist-dissim": "most dissimilar grey histogram (hull area) first",
    "brightness": "brightest first",
    "hue": "highest mean hue first",
    "black": "fewest black pixels first (faces cut by the frame edge last)",
    "origname": "by source frame name and face index",
    "oneface": "moves every face of frames with more than one face to the trash",
    "absdiff": "similar (or, with --absdiff-mode dissimilar, dissimilar) images next to each other",
    "best": "keeps --target-count faces spread over yaw and pitch, sharpest per pose (DFL's 'final')",
    "best-faster": "as best, ranking by source face size instead of sharpness (DFL's 'final-fast')",
    "identity": "keeps faces of the person in --reference images, moves the others to the trash",
}
# DeepFaceLab's names of the same methods (its sorter's menu)
DFL_ALIASES = {"final": "best", "final-fast": "best-faster"}
METHOD_OPTION = Option("by", "blur", "sort method", choices=tuple(METHODS), aliases=DFL_ALIASES)


@dataclass
class Face:
    """One face file of the set; its pixels are read on demand."""

    path: Path
    meta: FaceMeta
    _image: np.ndarray | None = None

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            from engine.media.image_io import to_uint8

            img = read_image(self.path)
            self._image = img if img.dtype == np.uint8 else to_uint8(img)
        return self._image

    def hull(self) -> np.ndarray:
        h, w = self.image.shape[:2]
        scale = w / self.meta.size if self.meta.size else 1.0
        return hull_mask(np.asarray(self.meta.landmarks) * scale, (h, w), self.meta.eyebrows_expand_mod)


@dataclass
class SortResult:
    """The outcome of a sort: kept faces in order, rejected faces and unreadable files."""

    method: str
    order: list[Path]
    trash: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    trash_dir: str = ""

    def to_json(self) -> dict:
        return {"method": self.method, "kept": len(self.order), "trashed": len(self.trash) + len(self.unreadable),
                "unreadable": [p.name for p in self.unreadable], "trash_dir": self.trash_dir,
                "renamed": self.renamed}


def _scores(faces: list[Face], fn: Callable[[Face], float], desc: str) -> np.ndarray:
    return np.array([fn(f) for f in progress(faces, total=len(faces), desc=desc, unit="face")], np.float64)


def _by_score(faces: list[Face], fn: Callable[[Face], float], desc: str, descending: bool = True) -> list[int]:
    s = _scores(faces, fn, desc)
    order = np.argsort(-s if descending else s, kind="stable")
    return [int(i) for i in order]


def _pose(f: Face) -> tuple[float, float, float]:
    from engine.faces.pose import head_pose

    return head_pose(f.meta.landmarks, f.meta.size)


def _rect_area(f: Face) -> float:
    l, t, r, b = f.meta.source_rect
    return float(max(r - l, 0) * max(b - t, 0))


def _hist_dissim(faces: list[Face]) -> np.ndarray:
    """DFL's hist-dissim score: sum of Bhattacharyya distances of each face's masked grey histogram to all."""
    if not faces:
        return np.zeros(0)
    h = np.array([sm.gray_hist(f.image, f.hull()) for f in progress(faces, total=len(faces), desc="histograms",
                                                                      unit="face")])
    return sm.bhattacharyya(h).sum(1)


def _oneface(faces: list[Face]) -> tuple[list[int], set[int]]:
    multi = {f.meta.source_filename for f in faces if f.meta.face_index != 0}
    trash = {i for i, f in enumerate(faces) if f.meta.source_filename in multi}
    return [i for i in range(len(faces)) if i not in trash], trash


def _best(faces: list[Face], target: int, fast: bool) -> tuple[list[int], set[int]]:
    """DFL's final sort: spread ``target`` faces over 128 yaw bins in [-1.2, 1.2] rad. In each yaw bin the 10x
    quota sharpest faces (fast: largest in the source frame) are shared round-robin over ``quota`` pitch bins
    in [-pi/2, pi/2], each ordered by histogram dissimilarity; then the yaw bins give faces round-robin until
    ``target`` are kept, so bins short of faces leave their share to the others (DFL's "lack")."""
    n = len(faces)
    if n <= target:
        return list(range(n)), set()
    poses = np.array([_pose(f) for f in progress(faces, total=n, desc="pose", unit="face")])
    pitch, yaw = poses[:, 0], poses[:, 1]
    rank = _scores(faces, _rect_area, "size") if fast else _scores(faces, lambda f: sm.sharpness(f.image, f.hull()),
                                                                   "sharpness")
    bins = 128
    quota = max(1, round(target / bins))
    yaw_bin = np.clip(np.searchsorted(np.linspace(-1.2, 1.2, bins), yaw, side="right") - 1, 0, bins - 1)
    dissim = _hist_dissim(faces)
    per_yaw: list[list[int]] = []
    for b in range(bins):
        members = np.flatnonzero(yaw_bin == b)
        if not len(members):
            continue
        members = members[np.argsort(-rank[members], kind="stable")][: quota * 10]
        pbin = np.clip(np.searchsorted(np.linspace(-np.pi / 2, np.pi / 2, quota), pitch[members], side="right") - 1,
                       0, quota - 1)
        queues = []
        for p in range(quota):
            in_bin = members[pbin == p]
            queues.append(list(in_bin[np.argsort(-dissim[in_bin], kind="stable")]))
        ordered: list[int] = []
        while any(queues):
            for q in queues:
                if q:
                    ordered.append(int(q.pop(0)))
        per_yaw.append(ordered)
    keep: list[int] = []
    while len(keep) < target and any(per_yaw):
        for q in per_yaw:
            if q and len(keep) < target:
                keep.append(q.pop(0))
    return keep, set(range(n)) - set(keep)


def _identity(faces: list[Face], references: list[Path], threshold: float) -> tuple[list[int], set[int]]:
    from engine.faces.identity import FaceEmbedder, distance

    if not references:
        raise FacecompError("sort --by identity needs --reference IMG (one or more pictures of the person to keep)")
    emb = FaceEmbedder()
    refs = np.array([reference_embedding(emb, p) for p in references])
    vecs = np.array([emb.embed(f.image, np.asarray(f.meta.landmarks) * f.image.shape[1] / f.meta.size)
                     for f in progress(faces, total=len(faces), desc="identity", unit="face")])
    vecs = vecs.reshape(-1, refs.shape[1])
    d = distance(vecs, refs).min(1) if len(vecs) else np.zeros(0)
    order = [int(i) for i in np.argsort(d, kind="stable") if d[i] <= threshold]
    return order, set(range(len(faces))) - set(order)


def reference_embedding(emb, path: Path) -> np.ndarray:
    """Embedding of a reference picture: an aligned faceset file, or any image (its largest face)."""
    from engine.faces.extract_faceset import FaceExtractor
    from engine.media.image_io import to_uint8

    try:
        meta = read_meta(path)
    except FacecompError:
        meta = None
    img = read_image(path)
    img = img if img.dtype == np.uint8 else to_uint8(img)
    if meta is not None:
        return emb.embed(img, np.asarray(meta.landmarks) * img.shape[1] / meta.size)
    faces = FaceExtractor(max_faces=1).detect(img)
    if not faces:
        raise FacecompError("no face found in the reference image", path)
    return emb.embed(img, faces[0].landmarks)


def plan(faces: list[Face], method: str, target_count: int = 2000, absdiff_mode: str = "similar",
         references: list[Path] | None = None, threshold: float | None = None) -> tuple[list[int], set[int]]:
    """(order of kept face indices, rejected indices) for a method."""
    none: set[int] = set()
    img = lambda f: f.image  # noqa: E731
    if method == "blur":
        return _by_score(faces, lambda f: sm.sharpness(img(f), f.hull()), "sharpness"), none
    if method == "motion-blur":
        return _by_score(faces, lambda f: sm.motion_sharpness(img(f), f.hull()), "motion blur"), none
    if method == "face-yaw":
        return _by_score(faces, lambda f: _pose(f)[1], "yaw"), none
    if method == "face-pitch":
        return _by_score(faces, lambda f: _pose(f)[0], "pitch"), none
    if method == "face-source-rect-size":
        return _by_score(faces, _rect_area, "size"), none
    if method == "hist":
        h = np.array([sm.bgr_hist(img(f)) for f in progress(faces, total=len(faces), desc="histograms", unit="face")])
        dist = np.asarray(sum(sm.bhattacharyya(h[:, c]) for c in range(3))) if len(h) else np.zeros((0, 0))
        return sm.greedy_chain(dist), none
    if method == "hist-dissim":
        return [int(i) for i in np.argsort(-_hist_dissim(faces), kind="stable")], none
    if method == "brightness":
        return _by_score(faces, lambda f: sm.hsv_means(img(f))[1], "brightness"), none
    if method == "hue":
        return _by_score(faces, lambda f: sm.hsv_means(img(f))[0], "hue"), none
    if method == "black":
        return _by_score(faces, lambda f: sm.black_count(img(f)), "black", descending=False), none
    if method == "origname":
        keyed = sorted(range(len(faces)), key=lambda i: (faces[i].meta.source_filename, faces[i].meta.face_index))
        return keyed, none
    if method == "oneface":
        return _oneface(faces)
    if method == "absdiff":
        if absdiff_mode not in ("similar", "dissimilar"):
            raise FacecompError(f"--absdiff-mode {absdiff_mode!r}: use similar or dissimilar")
        thumbs = np.array([sm.thumbnail(img(f)) for f in progress(faces, total=len(faces), desc="thumbnails",
                                                                   unit="face")])
        dist = sm.absdiff_matrix(thumbs) if len(thumbs) else np.zeros((0, 0))
        return sm.greedy_chain(dist, nearest=absdiff_mode == "similar"), none
    if method in ("best", "best-faster"):
        if target_count < 1:
            raise FacecompError(f"--target-count {target_count} must be at least 1")
        return _best(faces, target_count, method == "best-faster")
    if method == "identity":
        from engine.faces.identity import SAME_PERSON

        return _identity(faces, list(references or []), SAME_PERSON if threshold is None else threshold)
    raise FacecompError(f"unknown sort method {method!r}; use one of {', '.join(METHODS)}")


def load_faceset(folder: Path) -> tuple[list[Face], list[Path]]:
    """Faces with readable metadata (name order) and the image files without it."""
    files = require_faces(folder)
    faces, bad = [], []
    for p in files:
        try:
            faces.append(Face(p, read_meta(p)))
        except FacecompError:
            bad.append(p)
    return faces, bad


def _move_to_trash(paths: list[Path], trash_dir: Path) -> None:
    trash_dir.mkdir(parents=True, exist_ok=True)
    for p in paths:
        target = trash_dir / p.name
        k = 1
        while target.exists():
            target = trash_dir / f"{p.stem}_{k}{p.suffix}"
            k += 1
        shutil.move(str(p), str(target))


def _rename_in_order(paths: list[Path]) -> dict[str, str]:
    """Rename to %05d<ext> in order, via unique temporary names so no name ever collides."""
    tag = uuid.uuid4().hex[:8]
    staged = []
    for i, p in enumerate(paths):
        tmp = p.with_name(f".sort-{tag}-{i:05d}{p.suffix}")
        os.replace(p, tmp)
        staged.append((p, tmp))
    renamed = {}
    for i, (orig, tmp) in enumerate(staged):
        final = orig.with_name(f"{i:05d}{orig.suffix.lower()}")
        os.replace(tmp, final)
        renamed[orig.name] = final.name
    return renamed


def sort_faceset(folder: str | Path, method: str, target_count: int = 2000, absdiff_mode: str = "similar",
                 references: list[Path] | None = None, threshold: float | None = None,
                 dry_run: bool = False) -> SortResult:
    """Sort a faceset folder in place with one of :data:`METHODS` or DFL's name of it (see the module docstring)."""
    method = METHOD_OPTION.convert(method, "sort method")
    d = Path(folder)
    faces, bad = load_faceset(d)
    for r in references or []:
        if not Path(r).is_file():
            raise FacecompError("reference image does not exist", r)
    order, trash = plan(faces, method, target_count, absdiff_mode, references, threshold)
    trash_dir = d.with_name(f"{d.name}_trash")
    result = SortResult(method, [faces[i].path for i in order], [faces[i].path for i in sorted(trash)], bad,
                        trash_dir=str(trash_dir))
    if dry_run:
        return result
    if result.trash or bad:
        _move_to_trash(result.trash + bad, trash_dir)
    result.renamed = _rename_in_order(result.order)
    return result
