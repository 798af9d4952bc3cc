"""Editing state of the XSeg editor, without Qt: the faceset, the current face, its polygons, undo/redo.

Polygons are DFL's: include/exclude, filled in list order. A polygon being drawn is *open* (the last one,
``drawing`` True) until it is closed by clicking its first point. Every change pushes a snapshot on the
undo stack; navigating away from a changed face saves it (autosave), as DFL's editor does.
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import FacecompError
from engine.faces.faceset import FaceMeta, list_faces, read_face, read_meta, update_meta
from engine.xseg.labels import applied_mask, has_polys, label_mask

PICK_RADIUS = 6.0  # image pixels (scaled by zoom in the canvas)


@dataclass
class Poly:
    kind: str  # "include" | "exclude"
    points: list[tuple[float, float]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"type": self.kind, "points": [[round(x, 2), round(y, 2)] for x, y in self.points]}


def _dist_to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-9), 0.0, 1.0))
    q = a + t * ab
    return float(np.linalg.norm(p - q)), q


class EditorState:
    """The faceset being labelled and the polygons of the current face."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.files = list_faces(self.folder)
        if not self.files:
            raise FacecompError("faceset folder holds no face files", self.folder)
        self.index = 0
        self.mode = "include"
        self.polys: list[Poly] = []
        self.drawing = False
        self.undo_stack: list[tuple[list[Poly], bool]] = []
        self.redo_stack: list[tuple[list[Poly], bool]] = []
        self.dirty = False
        self.image: np.ndarray | None = None
        self.meta: FaceMeta | None = None
        self.load(0)

    # ---- faces -------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.files[self.index]

    def load(self, index: int) -> None:
        """Show face ``index`` (clamped); unsaved changes of the current face are saved first."""
        if self.dirty:
            self.save()
        self.index = int(np.clip(index, 0, len(self.files) - 1))
        self.image, self.meta = read_face(self.path)
        self.polys = [Poly(p["type"], [(float(q[0]), float(q[1])) for q in p["points"]])
                      for p in self.meta.xseg_polys or []]
        self.drawing = False
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.dirty = False

    def step(self, delta: int) -> None:
        self.load(self.index + delta)

    def jump_labelled(self, direction: int) -> bool:
        """Go to the next (or previous) face that has polygons; False when there is none."""
        i = self.index + direction
        while 0 <= i < len(self.files):
            if has_polys(read_meta(self.files[i])):
                self.load(i)
                return True
            i += direction
        return False

    def save(self) -> None:
        """Write the closed polygons into the face file (metadata only, atomic)."""
        assert self.meta is not None
        polys = [p for p in self.polys if len(p.points) >= 3 and not (self.drawing and p is self.polys[-1])]
        self.meta.xseg_polys = [p.to_json() for p in polys] or None
        update_meta(self.path, self.meta)
        self.dirty = False

    def trash(self) -> Path:
        """Move the current face to ``<faceset>_trash`` (DFL's X key) and show the next one."""
        dest_dir = self.folder.with_name(self.folder.name + "_trash")
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / self.path.name
        self.dirty = False
        shutil.move(str(self.path), dest)
        del self.files[self.index]
        if not self.files:
            raise FacecompError("no faces left in the faceset", self.folder)
        self.load(min(self.index, len(self.files) - 1))
        return dest

    # ---- masks for the overlays ----------------------------------------------------------------------
    def label_mask(self) -> np.ndarray | None:
        """The baked label (imported matte + polygons as they are now)."""
        assert self.meta is not None
        meta = copy.copy(self.meta)
        meta.xseg_polys = [p.to_json() for p in self.polys if len(p.points) >= 3]
        return label_mask(meta, self.path)

    def applied_mask(self) -> np.ndarray | None:
        assert self.meta is not None
        return applied_mask(self.meta, self.path)

    # ---- undo ----------------------------------------------------------------------------------------
    def _push(self) -> None:
        self.undo_stack.append((copy.deepcopy(self.polys), self.drawing))
        self.redo_stack.clear()
        self.dirty = True

    def undo(self) -> bool:
        if not self.undo_stack:
            return False
        self.redo_stack.append((copy.deepcopy(self.polys), self.drawing))
        self.polys, self.drawing = self.undo_stack.pop()
        self.dirty = True
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        self.undo_stack.append((copy.deepcopy(self.polys), self.drawing))
        self.polys, self.drawing = self.redo_stack.pop()
        self.dirty = True
        return True

    # ---- editing -------------------------------------------------------------------------------------
    def set_mode(self, kind: str) -> None:
        """Q / W: the type of the next polygon (and of the one being drawn)."""
        self.mode = kind
        if self.drawing and self.polys:
            self._push()
            self.polys[-1].kind = kind

    def find_point(self, x: float, y: float, radius: float = PICK_RADIUS) -> tuple[int, int] | None:
        """(polygon, point) index of the point nearest to (x, y) within ``radius``."""
        best, where = radius, None
        for i, poly in enumerate(self.polys):
            for j, (px, py) in enumerate(poly.points):
                d = float(np.hypot(px - x, py - y))
                if d <= best:
                    best, where = d, (i, j)
        return where

    def find_edge(self, x: float, y: float, radius: float = PICK_RADIUS) -> tuple[int, int, tuple[float, float]] | None:
        """(polygon, insert index, point on edge) of the closed-polygon edge nearest to (x, y)."""
        p = np.array([x, y])
        best, where = radius, None
        for i, poly in enumerate(self.polys):
            if self.drawing and i == len(self.polys) - 1:
                continue
            pts = np.asarray(poly.points, np.float64)
            for j in range(len(pts)):
                d, q = _dist_to_segment(p, pts[j], pts[(j + 1) % len(pts)])
                if d <= best:
                    best, where = d, (i, j + 1, (float(q[0]), float(q[1])))
        return where

    def click(self, x: float, y: float, radius: float = PICK_RADIUS) -> str:
        """A left click in image coordinates: start / extend / close a polygon. Returns what happened."""
        if self.drawing:
            poly = self.polys[-1]
            if len(poly.points) >= 3 and np.hypot(poly.points[0][0] - x, poly.points[0][1] - y) <= radius:
                self._push()
                self.drawing = False
                return "closed"
            self._push()
            poly.points.append((x, y))
            return "added"
        self._push()
        self.polys.append(Poly(self.mode, [(x, y)]))
        self.drawing = True
        return "started"

    def ctrl_click(self, x: float, y: float, radius: float = PICK_RADIUS) -> str:
        """Ctrl+click: delete the point under the cursor (a polygon left with < 3 points goes), or insert one
        on the edge under the cursor."""
        hit = self.find_point(x, y, radius)
        if hit is not None:
            i, j = hit
            self._push()
            del self.polys[i].points[j]
            if len(self.polys[i].points) < 3 and not (self.drawing and i == len(self.polys) - 1):
                del self.polys[i]
            elif not self.polys[i].points:
                del self.polys[i]
                self.drawing = False
            return "deleted"
        edge = self.find_edge(x, y, radius)
        if edge is not None:
            i, j, q = edge
            self._push()
            self.polys[i].points.insert(j, q)
            return "inserted"
        return "none"

    def begin_drag(self) -> None:
        """Snapshot before a point drag (one undo step per drag)."""
        self._push()

    def move_point(self, i: int, j: int, x: float, y: float) -> None:
        self.polys[i].points[j] = (x, y)
        self.dirty = True

    def delete_poly_at(self, x: float, y: float) -> bool:
        """Delete key: remove the polygon being drawn, else the one under (x, y), else the last one."""
        if not self.polys:
            return False
        self._push()
        if self.drawing:
            self.polys.pop()
            self.drawing = False
            return True
        from engine.xseg.labels import polys_to_mask

        size = self.image.shape[0] if self.image is not None else 0
        for i in range(len(self.polys) - 1, -1, -1):
            m = polys_to_mask([{"type": "include", "points": self.polys[i].points}], size)
            xi, yi = int(round(x)), int(round(y))
            if 0 <= yi < m.shape[0] and 0 <= xi < m.shape[1] and m[yi, xi] > 0:
                del self.polys[i]
                return True
        self.polys.pop()
        return True
