"""Colour transfer (DFL's eight modes + hist match) on real faces, and merge settings (DFL names, ranges, files)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import FacecompError
from engine.faces.faceset import list_faces, read_face
from engine.swap import color_transfer as ct
from engine.swap.settings import MASK_MODES, MODES, FrameSettings, MergeSettings, parse_frames


@pytest.fixture(scope="module")
def faces(dst_faces, src_faces):
    """A dst face (reference colours) and a src face (to recolour) at 64 px, float BGR, with a centre mask."""
    import cv2

    dst = cv2.resize(read_face(list_faces(dst_faces)[0])[0], (64, 64)).astype(np.float32) / 255
    src = cv2.resize(read_face(list_faces(src_faces)[0])[0], (64, 64)).astype(np.float32) / 255
    mask = np.zeros((64, 64), np.float32)
    mask[12:56, 14:50] = 1
    return src, dst, mask


@pytest.mark.parametrize("mode", [m for m in ct.MODES if m != "none"])
def test_every_transfer_moves_colours_toward_the_reference(faces, mode):
    src, dst, mask = faces
    out = ct.transfer(mode, src, dst, mask)
    assert out.shape == src.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    inside = mask > 0
    before = np.abs(src[inside].mean(0) - dst[inside].mean(0)).sum()
    after = np.abs(out[inside].mean(0) - dst[inside].mean(0)).sum()
    assert after < 0.6 * before, (mode, before, after)
    assert np.array_equal(out, ct.transfer(mode, src, dst, mask))  # fixed seeds: stateless


def test_modes_differ_and_none_is_identity(faces):
    src, dst, mask = faces
    outs = {m: ct.transfer(m, src, dst, mask) for m in ct.MODES}
    assert np.array_equal(outs["none"], src)
    names = [m for m in ct.MODES if m != "none"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(outs[a] - outs[b]).max() > 1e-3, (a, b)
    with pytest.raises(FacecompError, match="mode 'sepia'"):
        ct.transfer("sepia", src, dst)


def test_hist_match_threshold_darkens(faces):
    src, dst, _ = faces
    full = ct.hist_match(src, dst, 255)
    low = ct.hist_match(src, dst, 200)
    assert abs(full.mean() - dst.mean()) < abs(src.mean() - dst.mean())
    assert low.mean() < full.mean()


def test_defaults_and_ranges_are_dfl():
    s = FrameSettings.create().for_frame(1)
    assert s == MergeSettings()
    assert (s.mode, s.mask_mode, s.erode, s.blur, s.color_transfer, s.hist_match_threshold) == \
        ("overlay", "dst", 0, 0, "none", 255)
    assert MODES == ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
    assert MASK_MODES[1:] == ("dst", "learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst",
                              "XSeg-prd", "XSeg-dst", "XSeg-prd*XSeg-dst", "learned-prd*learned-dst*XSeg-prd*XSeg-dst")
    for bad in ({"erode": 401}, {"blur": -1}, {"face_scale": 51}, {"mode": "blend"}, {"sharpen_amount": 101},
                {"color_transfer": "sepia"}, {"image_denoise": 501}, {"warp": 1}):
        with pytest.raises(FacecompError):
            FrameSettings.create(bad)


def test_dfl_names_codes_and_frame_overrides(tmp_path):
    data = {"erode_mask_modifier": 10, "mask_mode": 4, "color_transfer_mode": 1, "blur": 5,
            "frames": [{"range": "3-5", "blur": 40, "mode": "seamless"}, {"range": [5, 6], "erode": -20}]}
    fs = FrameSettings.create(data, {"blur": None, "face_scale": 7})
    assert fs.for_frame(1).mask_mode == "learned-prd*learned-dst" and fs.for_frame(1).color_transfer == "rct"
    assert (fs.for_frame(2).blur, fs.for_frame(4).blur, fs.for_frame(4).mode) == (5, 40, "seamless")
    got = (fs.for_frame(5).erode, fs.for_frame(5).blur, fs.for_frame(6).erode, fs.for_frame(7).erode)
    assert got == (-20, 40, -20, 10)
    assert fs.for_frame(9).face_scale == 7  # command-line values apply everywhere
    for name in ("s.toml", "s.json"):
        fs.save(tmp_path / name)
        again = FrameSettings.load(tmp_path / name)
        assert all(again.for_frame(n) == fs.for_frame(n) for n in range(1, 9))
    (tmp_path / "bad.toml").write_text("mode = [unclosed")
    with pytest.raises(FacecompError, match="bad.toml"):
        FrameSettings.load(tmp_path / "bad.toml")


def test_parse_frames():
    assert parse_frames("1001-1003") == [1001, 1002, 1003]
    assert parse_frames("1-2, 5,7-8") == [1, 2, 5, 7, 8]
    assert parse_frames([3, 4]) == [3, 4] and parse_frames(9) == [9]
    for bad in ("5-1", "a-b", "1..4"):
        with pytest.raises(FacecompError):
            parse_frames(bad)
