"""mask_modes, filters and color_transfer called directly on a real face: every mode, and every bad input
answered by a FacecompError that names the function and the argument."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.errors import FacecompError
from engine.faces.faceset import list_faces, read_face
from engine.faces.masks import hull_mask
from engine.swap import color_transfer as ct
from engine.swap import filters, mask_modes

RES = 64


@pytest.fixture(scope="module")
def face(dst_faces):
    """A real dst face at 64 px (float BGR) and its landmark hull at that size."""
    image, meta = read_face(list_faces(dst_faces)[0])
    scale = RES / image.shape[0]
    small = cv2.resize(image, (RES, RES), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    hull = hull_mask(np.asarray(meta.landmarks) * scale, RES)
    return small, hull, np.asarray(meta.landmarks, np.float64)


@pytest.fixture(scope="module")
def sources(face):
    """Mask sources of every mode, derived from the real hull: learned-* narrower/wider, XSeg-* shifted."""
    _, hull, _ = face
    k = np.ones((5, 5), np.uint8)
    return {"hull": hull, "learned-prd": cv2.erode(hull, k), "learned-dst": cv2.dilate(hull, k),
            "XSeg-prd": np.roll(hull, 2, axis=1), "XSeg-dst": np.roll(hull, -2, axis=0)}


# ---- mask_modes -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", mask_modes.MASK_MODES)
def test_every_mask_mode_combines_its_sources(mode: str, sources) -> None:
    out = mask_modes.combine(mode, sources, RES)
    assert out.shape == (RES, RES) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    parts = [sources[p] for p in mask_modes.needed(mode)]
    if mode == "full":
        assert np.all(out == 1.0)
    elif mode == "dst":
        assert np.array_equal(out, sources["hull"].astype(np.float32))
    elif "+" in mode:
        assert np.all(out >= np.max(parts, axis=0) - 1e-6)
    else:
        assert np.all(out <= np.min(parts, axis=0) + 1e-6)
    assert not np.any((out > 0) & (out < mask_modes.NOISE))


def test_mask_sources_at_another_size_are_resized(sources) -> None:
    big = {k: cv2.resize(v, (2 * RES, 2 * RES)) for k, v in sources.items()}
    out = mask_modes.combine("learned-prd*learned-dst", big, RES)
    assert out.shape == (RES, RES)


def test_process_erodes_dilates_blurs_and_keeps_raw(face) -> None:
    _, hull, _ = face
    plain = mask_modes.process(hull, RES, 0, 0, raw=False)
    assert plain.shape == (4 * RES, 4 * RES)
    eroded = mask_modes.process(hull, RES, 20, 0, raw=False)
    dilated = mask_modes.process(hull, RES, -20, 0, raw=False)
    assert eroded.sum() < plain.sum() < dilated.sum()
    blurred = mask_modes.process(hull, RES, 0, 40, raw=False)
    soft = (blurred > 0.05) & (blurred < 0.95)
    assert soft.sum() > ((plain > 0.05) & (plain < 0.95)).sum()
    assert np.array_equal(mask_modes.process(hull, RES, 20, 40, raw=True), plain)


@pytest.mark.parametrize(("call", "names"), [
    (lambda s: mask_modes.combine("sepia", s, RES), "mask_modes.needed: mask_mode 'sepia'"),
    (lambda s: mask_modes.combine("dst", {}, RES), "sources has no 'hull'"),
    (lambda s: mask_modes.combine("dst", {"hull": s["hull"].tolist()}, RES), "sources['hull'] must be a numpy"),
    (lambda s: mask_modes.combine("dst", {"hull": np.zeros((4, 4, 3))}, RES), "sources['hull'] must be HxW"),
    (lambda s: mask_modes.combine("dst", s, 0), "size 0 outside"),
    (lambda s: mask_modes.process(s["hull"][None], RES, 0, 0, False), "mask must be HxW"),
    (lambda s: mask_modes.process(s["hull"], RES, 2.5, 0, False), "erode must be an integer"),
    (lambda s: mask_modes.process(s["hull"], RES, 0, -1, False), "blur -1 outside"),
    (lambda s: mask_modes.process(s["hull"], 0, 0, 0, False), "resolution 0 outside"),
])
def test_mask_modes_bad_input_names_the_argument(call, names: str, sources) -> None:
    with pytest.raises(FacecompError, match=_literal(names)):
        call(sources)


# ---- filters ---------------------------------------------------------------------------------------------------

def _detail(img: np.ndarray) -> float:
    return float(cv2.Laplacian(img, cv2.CV_32F).var())


def test_filters_change_what_they_should(face) -> None:
    img, _, _ = face
    assert filters.motion_blur(img, 0.0, 0.0, 50) is img
    moved = filters.motion_blur(img, 40.0, 30.0, 100)
    assert moved.shape == img.shape and _detail(moved) < _detail(img)
    for mode in ("box", "gaussian"):
        assert _detail(filters.sharpen(img, mode, 50)) > _detail(img)
    assert filters.sharpen(img, "none", 50) is img
    assert _detail(filters.sharpen(img, "box", -20)) < _detail(img)
    assert _detail(filters.denoise(img, 150)) < _detail(img)
    assert filters.denoise(img, 0) is img
    assert _detail(filters.bicubic_degrade(img, 60)) < _detail(img)
    reduced = filters.reduce_colors(img, 16)
    assert len(np.unique(reduced.reshape(-1, 3), axis=0)) <= 16
    assert filters.color_degrade(img, 0) is img
    half = filters.color_degrade(img, 50)
    assert half.dtype == np.float32 and 0 < np.abs(half - img).mean() < np.abs(filters.reduce_colors(img) - img).mean()


def test_motion_vector_follows_the_face(face) -> None:
    _, _, lm = face
    power, angle = filters.motion_vector(lm - [10.0, 0.0], lm, lm + [10.0, 0.0])
    assert power > 1.0 and abs(angle) < 1.0  # moving right: angle 0
    still, _ = filters.motion_vector(lm, lm, lm)
    assert still == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("call", "names"), [
    (lambda i: filters.motion_blur(i.tolist(), 1.0, 0.0, 10), "filters.motion_blur: img must be a numpy array"),
    (lambda i: filters.motion_blur(i, float("nan"), 0.0, 10), "power must be a finite number"),
    (lambda i: filters.motion_blur(i, 1.0, 0.0, 1.5), "amount must be an integer"),
    (lambda i: filters.sharpen(i[..., 0], "box", 10), "filters.sharpen: img must be HxWx3"),
    (lambda i: filters.sharpen(i, "median", 10), "mode 'median' not one of none, box, gaussian"),
    (lambda i: filters.sharpen(i, "box", 10, 0), "kernel_size 0 outside"),
    (lambda i: filters.denoise((i * 255).astype(np.uint8), 100), "filters.denoise: img must be floating point"),
    (lambda i: filters.bicubic_degrade(i, 101), "filters.bicubic_degrade: power 101 outside"),
    (lambda i: filters.reduce_colors(i, 1), "colors 1 outside 2..256"),
    (lambda i: filters.color_degrade(i[:0], 10), "filters.color_degrade: img is empty"),
    (lambda i: filters.motion_vector(np.zeros((68, 3)), np.zeros((68, 2)), np.zeros((68, 2))),
     "filters.motion_vector: prev must be Nx2 face landmarks"),
])
def test_filters_bad_input_names_the_argument(call, names: str, face) -> None:
    with pytest.raises(FacecompError, match=_literal(names)):
        call(face[0])


# ---- color_transfer --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ct.MODES)
def test_every_colour_transfer_mode(mode: str, face, src_faces) -> None:
    dst, hull, _ = face
    src = cv2.resize(read_face(list_faces(src_faces)[0])[0], (RES, RES)).astype(np.float32) / 255.0
    out = ct.transfer(mode, src, dst, hull)
    assert out.shape == src.shape and out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    if mode == "none":
        assert np.array_equal(out, src)
    else:  # toward the reference: the mean colour gets closer to the dst face's
        inside = hull > 0.5
        before = np.abs(src[inside].mean(0) - dst[inside].mean(0)).sum()
        after = np.abs(out[inside].mean(0) - dst[inside].mean(0)).sum()
        assert after < before


@pytest.mark.parametrize(("call", "names"), [
    (lambda s, d, m: ct.transfer("sepia", s, d, m), "color_transfer.transfer: mode 'sepia' not one of"),
    (lambda s, d, m: ct.transfer("rct", s.tolist(), d, m), "image must be a numpy array"),
    (lambda s, d, m: ct.transfer("rct", s, d[..., :2], m), "reference must be HxWx3"),
    (lambda s, d, m: ct.transfer("lct", (s * 255).astype(np.uint8), d, m), "image must be floating point"),
    (lambda s, d, m: ct.transfer("mkl-m", s, d, m[:10]), "mask must be 64x64 like the image, got 10x64"),
    (lambda s, d, m: ct.transfer("idt-m", s, d, np.stack([m, m, m], -1)), "mask must be HxW or HxWx1"),
    (lambda s, d, m: ct.hist_match(s, d, 300), "color_transfer.hist_match: threshold 300 outside 0..255"),
])
def test_colour_transfer_bad_input_names_the_argument(call, names: str, face) -> None:
    dst, hull, _ = face
    with pytest.raises(FacecompError, match=_literal(names)):
        call(dst.copy(), dst, hull)


def _literal(text: str) -> str:
    import re

    return re.escape(text)
