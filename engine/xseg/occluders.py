"""Synthetic occluders for self-supervised XSeg (``xseg train --auto``).

Shapes composited in front of a face so the network learns to cut them out of the mask: hands (palm +
fingers + arm to the frame edge, skin textured from other faces), objects (polygons, ellipses, microphones
on a stick), hair strands (thin curves), other faces cut from the faceset, and irregular blobs. Textures
come from images/videos without faces given by the user (``--occluders``) and from the faceset itself
(pixels outside the faces: clothes, background, hair).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.media.frames import open_frames
from engine.media.image_io import is_image_file, read_image, to_float

log = logging.getLogger("facecomp")
Rng = np.random.Generator
MAX_SIDE = 512


def _shrink(img: np.ndarray) -> np.ndarray:
    img = to_float(img)
    s = MAX_SIDE / max(img.shape[:2])
    return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img


def _smooth_noise(grid: np.ndarray, res: int) -> np.ndarray:
    return cv2.resize(grid.astype(np.float32), (res, res), interpolation=cv2.INTER_CUBIC)


def load_textures(sources: Iterable[str | os.PathLike[str]], frames_per_video: int = 24) -> list[np.ndarray]:
    """Float BGR images from image files, folders and videos (videos: evenly spaced frames)."""
    out: list[np.ndarray] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            out += [_shrink(read_image(f)) for f in sorted(p.iterdir()) if f.is_file() and is_image_file(f)]
        elif p.is_file() and is_image_file(p):
            out.append(_shrink(read_image(p)))
        elif p.is_file():
            frames = open_frames(p)
            nums = frames.numbers
            pick = set(nums[:: max(1, len(nums) // frames_per_video)])
            out += [_shrink(fr.image) for fr in frames if fr.number in pick]
        else:
            raise FacecompError("occluder source does not exist", p)
    return out


class OccluderBank:
    """Random occluders (BGR float image + alpha) drawn over faces of side ``res``."""

    def __init__(self, textures: list[np.ndarray], faces: Callable[[Rng], tuple[np.ndarray, np.ndarray]] | None = None):
        self.textures = textures
        self.faces = faces
        self.kinds: list[tuple[str, float]] = [("hand", 0.25), ("object", 0.25), ("strands", 0.15), ("blob", 0.15),
                                               ("face", 0.2 if faces else 0.0)]

    # ---- textures -------------------------------------------------------------------------------
    def texture(self, res: int, rng: Rng) -> np.ndarray:
        """A res x res patch cut from a random texture image (random crop, scale, flip, colour shift)."""
        if not self.textures:
            base = rng.uniform(0, 1, 3).astype(np.float32)
            noise = cv2.resize(rng.uniform(-0.15, 0.15, (8, 8, 3)).astype(np.float32), (res, res))
            return np.clip(base + noise, 0, 1)
        src = self.textures[int(rng.integers(len(self.textures)))]
        h, w = src.shape[:2]
        side = int(rng.uniform(0.15, 1.0) * min(h, w))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        patch = cv2.resize(src[y:y + side, x:x + side], (res, res), interpolation=cv2.INTER_LINEAR)
        if rng.integers(2):
            patch = patch[:, ::-1]
        return np.clip(patch * rng.uniform(0.7, 1.3, 3).astype(np.float32), 0, 1)

    def skin(self, res: int, rng: Rng) -> np.ndarray:
        """Skin-like texture: the centre of another face (cheeks, nose) blown up, or a skin tone with noise."""
        if self.faces is not None:
            img, _ = self.faces(rng)
            s = img.shape[0]
            c = img[int(s * 0.45):int(s * 0.7), int(s * 0.3):int(s * 0.7)]
            patch = cv2.resize(c, (res, res), interpolation=cv2.INTER_LINEAR)
        else:
            tone = np.array([0.45, 0.55, 0.75], np.float32) * rng.uniform(0.4, 1.2)
            patch = np.broadcast_to(tone, (res, res, 3)).copy()
        shade = _smooth_noise(rng.uniform(0.75, 1.15, (4, 4)), res)
        return np.clip(patch * shade[..., None], 0, 1)

    # ---- shapes (alpha masks) -------------------------------------------------------------------
    @staticmethod
    def _to_edge(alpha: np.ndarray, centre: np.ndarray, width: float, rng: Rng) -> None:
        """Draw an arm/stick from ``centre`` to a random frame edge."""
        res = alpha.shape[0]
        ang = rng.uniform(0, 2 * np.pi)
        end = centre + np.array([np.cos(ang), np.sin(ang)]) * res * 2
        cv2.line(alpha, tuple(np.round(centre).astype(int)), tuple(np.round(end).astype(int)), 1.0,
                 max(1, int(width)), cv2.LINE_AA)

    def hand(self, res: int, centre: np.ndarray, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        alpha = np.zeros((res, res), np.float32)
        size = rng.uniform(0.12, 0.3) * res
        rot = rng.uniform(0, 360)
        cv2.ellipse(alpha, tuple(np.round(centre).astype(int)), (int(size * 0.55), int(size * 0.65)), rot, 0, 360, 1.0,
                    -1, cv2.LINE_AA)
        base = np.deg2rad(rot - 90)
        n = int(rng.integers(2, 6))
        for i in range(n):
            a = base + (i - (n - 1) / 2) * rng.uniform(0.2, 0.35)
            length = size * rng.uniform(0.7, 1.2)
            start = centre + np.array([np.cos(a), np.sin(a)]) * size * 0.4
            end = start + np.array([np.cos(a), np.sin(a)]) * length
            cv2.line(alpha, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)), 1.0,
                     max(2, int(size * rng.uniform(0.16, 0.24))), cv2.LINE_AA)
        self._to_edge(alpha, centre, size * 0.8, rng)
        return self.skin(res, rng), alpha

    def object(self, res: int, centre: np.ndarray, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        alpha = np.zeros((res, res), np.float32)
        size = rng.uniform(0.08, 0.35) * res
        kind = int(rng.integers(4))
        c = tuple(np.round(centre).astype(int))
        if kind == 0:  # polygon
            n = int(rng.integers(3, 9))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = size * rng.uniform(0.5, 1.0, n)
            pts = centre + np.stack([np.cos(ang) * rad, np.sin(ang) * rad], 1)
            cv2.fillPoly(alpha, [np.round(pts).astype(np.int32)], 1.0, cv2.LINE_AA)
        elif kind == 1:  # ellipse
            cv2.ellipse(alpha, c, (int(size), int(size * rng.uniform(0.3, 1.0))), rng.uniform(0, 180), 0, 360, 1.0, -1,
                        cv2.LINE_AA)
        elif kind == 2:  # microphone / lollipop: a head on a stick to the edge
            cv2.circle(alpha, c, int(size * 0.5), 1.0, -1, cv2.LINE_AA)
            self._to_edge(alpha, centre, max(2.0, size * rng.uniform(0.1, 0.3)), rng)
        else:  # bar / glasses arm / pen
            self._to_edge(alpha, centre, max(2.0, size * rng.uniform(0.1, 0.5)), rng)
        return self.texture(res, rng), alpha

    def strands(self, res: int, centre: np.ndarray, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        alpha = np.zeros((res, res), np.float32)
        colour = np.array(rng.choice([[0.05, 0.05, 0.06], [0.1, 0.2, 0.3], [0.3, 0.5, 0.7], [0.6, 0.6, 0.6]]),
                          np.float32) * rng.uniform(0.6, 1.4)
        n = int(rng.integers(4, 30))
        spread = rng.uniform(0.05, 0.3) * res
        direction = rng.uniform(0, 2 * np.pi)
        for _ in range(n):
            p0 = centre + rng.normal(0, spread, 2)
            d = np.array([np.cos(direction), np.sin(direction)]) * rng.uniform(0.3, 0.9) * res
            ctrl = p0 + d / 2 + rng.normal(0, spread * 0.5, 2)
            t = np.linspace(0, 1, 24)[:, None]
            curve = (1 - t) ** 2 * (p0 - d / 2) + 2 * (1 - t) * t * ctrl + t ** 2 * (p0 + d / 2)
            cv2.polylines(alpha, [np.round(curve).astype(np.int32)], False, 1.0, int(rng.integers(1, 4)), cv2.LINE_AA)
        img = np.broadcast_to(np.clip(colour, 0, 1), (res, res, 3)).astype(np.float32)
        return np.clip(img + self.texture(res, rng) * 0.15, 0, 1), alpha

    def blob(self, res: int, centre: np.ndarray, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        cells = int(rng.integers(3, 8))
        noise = _smooth_noise(rng.normal(0, 1, (cells, cells)), res)
        yy, xx = np.mgrid[0:res, 0:res].astype(np.float32)
        r = rng.uniform(0.1, 0.35) * res
        d = np.sqrt((yy - centre[1]) ** 2 + (xx - centre[0]) ** 2) / r
        alpha = ((noise * 0.6 + 1.0 - d) > 0).astype(np.float32)
        return self.texture(res, rng), alpha

    def face(self, res: int, centre: np.ndarray, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        assert self.faces is not None
        img, mask = self.faces(rng)
        s = rng.uniform(0.4, 0.9)
        m = cv2.getRotationMatrix2D((res / 2, res / 2), rng.uniform(-40, 40), s)
        m[:, 2] += centre - res / 2
        img = cv2.warpAffine(img, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(mask, m, (res, res), flags=cv2.INTER_LINEAR)
        return img, alpha

    def sample(self, res: int, centre: np.ndarray, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        names = [k for k, w in self.kinds if w > 0]
        weights = np.array([w for k, w in self.kinds if w > 0])
        kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        img, alpha = getattr(self, kind)(res, centre, rng)
        if rng.integers(2):
            alpha = cv2.GaussianBlur(alpha, (3, 3), rng.uniform(0.3, 1.2))
        return img.astype(np.float32), np.clip(alpha, 0, 1)


def occlude(img: np.ndarray, mask: np.ndarray, bank: OccluderBank, rng: Rng, p: float = 0.75,
            max_count: int = 3, max_cover: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Composite 1..max_count occluders over the face with probability ``p``; the mask loses what they cover.

    An occluder that would hide more than ``max_cover`` of the (remaining) face is skipped.
    """
    if rng.uniform() >= p:
        return img, mask
    res = img.shape[0]
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys) == 0:
        return img, mask
    area = float(len(ys))
    for _ in range(int(rng.integers(1, max_count + 1))):
        i = int(rng.integers(len(ys)))
        centre = np.array([xs[i], ys[i]], np.float64) + rng.normal(0, res * 0.08, 2)
        occ, alpha = bank.sample(res, centre, rng)
        cover = float(((alpha > 0.5) & (mask > 0.5)).sum())
        if cover > max_cover * area:
            continue
        a = alpha[..., None]
        img = img * (1 - a) + occ * a
        mask = mask * (1.0 - (alpha > 0.5))
    return img, mask.astype(np.float32)
