"""The shared face cache (engine.training.samples.FaceCache) under the swap faceset and XSeg's samples
(engine.training.xseg_samples.XSegFaces): the byte budget, keys, decoding in processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.faces.facetype import FaceType
from engine.training.samples import Faceset
from engine.training.xseg_samples import XSegFaces
from engine.xseg.data import prepare_face, scan_facesets, select_training


def test_faceset_cache_budget(src_faces: Path) -> None:
    """Within the budget a face is decoded once (the same arrays come back); past it, decoded each time."""
    cached = Faceset(src_faces, 64, "wf")
    a = cached.load(0)
    assert cached.load(0) is a and 0 in cached.cache.items
    assert cached.cache.left < 1 << 40 and a.image.shape == (64, 64, 3) and a.image.dtype == np.uint8
    none = Faceset(src_faces, 64, "wf", cache_bytes=0)
    b = none.load(0)
    assert none.load(0) is not b and not none.cache.items
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_xseg_faces_serve_the_prepared_face_and_target(src_faces: Path) -> None:
    """XSeg's loader returns engine.xseg.data.prepare_face's uint8 face and target as float 0..1, cached per
    (face, target): the geometric target of --auto and the face's own target are kept apart."""
    samples = scan_facesets([src_faces])
    auto = select_training(samples, auto=True)
    faces = XSegFaces(128, "whole_face")
    img, mask = faces.load(auto[0])
    img8, m8 = prepare_face(auto[0].path, auto[0].meta, auto[0].target, 128, FaceType.parse("whole_face"))
    assert img.dtype == np.float32 and img.shape == (128, 128, 3) and mask.shape == (128, 128)
    assert np.array_equal(img, img8.astype(np.float32) / 255.0) and np.array_equal(mask, m8 / np.float32(255.0))
    assert 0.05 < float(mask.mean()) < 0.95  # a face-sized geometric mask
    img[:] = 0  # callers get their own copies: the cache stays intact
    assert np.array_equal(faces.load(auto[0])[0], img8.astype(np.float32) / 255.0)
    faces.load(samples[0])
    assert len(faces.cache.items) == (2 if samples[0].target != auto[0].target else 1)


def test_xseg_preload_in_processes_matches_on_demand(src_faces: Path) -> None:
    """Decoding up front in two processes gives the same faces as decoding on demand."""
    samples = select_training(scan_facesets([src_faces]), auto=True)[:6]
    pre = XSegFaces(64, "whole_face")
    assert pre.preload(samples, 2) == len(samples)
    assert pre.preload(samples, 2) == 0  # all cached already
    lazy = XSegFaces(64, "whole_face")
    for s in samples:
        for x, y in zip(pre.load(s), lazy.load(s), strict=True):
            assert np.array_equal(x, y)
    assert XSegFaces(64, "whole_face", cache_bytes=64 * 64 * 4).preload(samples, 2) == 0  # they do not fit
