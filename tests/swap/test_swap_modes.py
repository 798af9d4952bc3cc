"""Every merge mode, mask mode and merge option on real frames (dst_obama_speaking.mp4 with its aligned faces)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from engine.errors import FacecompError
from engine.faces.faceset import encode_mask, list_faces, read_meta, update_meta
from engine.media.image_io import read_image
from engine.swap.onnx_model import FaceSwapModel
from engine.swap.outputs import patch_matrix, patch_roi
from engine.swap.paste_face import FaceInput
from engine.swap.pipeline import FrameSwapper
from engine.swap.settings import MASK_MODES, MODES, MergeSettings
from engine.swap.track_build import build_track
from engine.xseg.apply import XSegApplier

FRAME = 3


@pytest.fixture(scope="module")
def swapper(models):
    return FrameSwapper(FaceSwapModel(models["tiny"]), XSegApplier(models["xseg"]))


@pytest.fixture(scope="module")
def frame(shot):
    track = build_track(shot, shot / "aligned", smooth=False, detect_cut=False)
    return read_image(shot / f"{FRAME:05d}.png"), track.faces(FRAME)


def test_every_mode_differs_as_it_should(swapper, frame):
    plate, faces = frame
    out = {m: swapper.swap(plate, faces, MergeSettings(mode=m, blur=20)) for m in MODES}
    assert np.array_equal(out["original"].merged, plate)
    assert out["raw-predict"].merged.shape == (64, 64, 3) and out["raw-predict"].mask.shape == (64, 64)
    full = [m for m in MODES if m not in ("original", "raw-predict")]
    for m in full:
        r = out[m]
        assert r.merged.shape == plate.shape and r.merged.dtype == np.uint8 and r.faces == 1
        assert r.mask.min() >= 0.0 and r.mask.max() <= 1.0 and r.mask.max() > 0.99
        changed = np.abs(r.merged.astype(int) - plate).max(axis=2) > 0
        assert changed.sum() > 2000, m
        if m != "raw-rgb":  # blended modes touch nothing outside the mask
            assert not changed[r.mask == 0].any(), m
    for i, a in enumerate(full):
        for b in full[i + 1:]:
            assert np.abs(out[a].merged.astype(int) - out[b].merged).max() > 10, (a, b)
    soft = lambda m: ((m > 0.05) & (m < 0.95)).sum()  # noqa: E731
    assert soft(out["raw-rgb"].mask) < soft(out["overlay"].mask)  # raw modes: the mask is not eroded or blurred


def test_every_mask_mode_differs_and_stays_in_range(swapper, frame):
    plate, faces = frame
    masks = {}
    for mode in MASK_MODES:
        r = swapper.swap(plate, faces, MergeSettings(mask_mode=mode))
        assert r.mask.dtype == np.float32 and r.mask.min() >= 0.0 and r.mask.max() <= 1.0, mode
        assert r.mask.sum() > 1000, mode
        masks[mode] = r.mask
    for i, a in enumerate(MASK_MODES):
        for b in MASK_MODES[i + 1:]:
            assert np.abs(masks[a] - masks[b]).max() > 0.05, (a, b)
    prd, dst = masks["learned-prd"], masks["learned-dst"]
    assert masks["learned-prd*learned-dst"].sum() < min(prd.sum(), dst.sum())
    assert masks["learned-prd+learned-dst"].sum() > max(prd.sum(), dst.sum()) - 1
    assert masks["full"].sum() > masks["dst"].sum()


def test_xseg_prd_needs_a_model(models, frame):
    plate, faces = frame
    with pytest.raises(FacecompError, match="xseg-model"):
        FrameSwapper(FaceSwapModel(models["tiny"])).swap(plate, faces, MergeSettings(mask_mode="XSeg-prd"))


def test_xseg_dst_uses_the_faceset_mask(models, shot, tmp_path):
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    src = list_faces(shot / "aligned")[FRAME - 1]
    target = aligned / src.name
    target.write_bytes(src.read_bytes())
    meta = read_meta(target)
    half = np.zeros((meta.size, meta.size), np.float32)
    half[:, : meta.size // 2] = 1.0  # only the image-left half of the face
    update_meta(target, replace(meta, xseg_mask=encode_mask(half)))
    track = build_track(shot, aligned, smooth=False, detect_cut=False)
    faces = track.faces(FRAME)
    assert faces[0].xseg_mask is not None
    r = FrameSwapper(FaceSwapModel(models["tiny"])).swap(read_image(shot / f"{FRAME:05d}.png"), faces,
                                                         MergeSettings(mask_mode="XSeg-dst"))
    ys, xs = np.nonzero(r.mask > 0.5)
    cx = transform_centre(meta)
    assert xs.size > 500 and np.median(xs) < cx  # the mask sits on the left of the face centre


def transform_centre(meta) -> float:
    return float(np.mean(meta.source_landmarks[:, 0]))


def test_erode_blur_scale(swapper, frame):
    plate, faces = frame
    base = swapper.swap(plate, faces, MergeSettings()).mask
    eroded = swapper.swap(plate, faces, MergeSettings(erode=40)).mask
    dilated = swapper.swap(plate, faces, MergeSettings(erode=-40)).mask
    blurred = swapper.swap(plate, faces, MergeSettings(blur=80)).mask
    assert eroded.sum() < base.sum() < dilated.sum()
    soft = lambda m: ((m > 0.05) & (m < 0.95)).sum()  # noqa: E731
    assert soft(blurred) > 3 * soft(base)
    smaller = swapper.swap(plate, faces, MergeSettings(face_scale=-30)).mask
    larger = swapper.swap(plate, faces, MergeSettings(face_scale=30)).mask
    assert abs(smaller.sum() - larger.sum()) > 0.1 * base.sum()


@pytest.mark.parametrize("option", [{"color_transfer": "rct"}, {"color_transfer": "idt-m"},
                                    {"sharpen_mode": "box", "sharpen_amount": 60},
                                    {"sharpen_mode": "gaussian", "sharpen_amount": 60}, {"sharpen_amount": -40},
                                    {"image_denoise": 150}, {"bicubic_degrade": 60}, {"color_degrade": 100},
                                    {"motion_blur": 100}, {"hist_match_threshold": 200, "mode": "hist-match"},
                                    {"masked_hist_match": False, "mode": "hist-match"}])
def test_each_option_changes_the_result(swapper, frame, option):
    plate, faces = frame
    moving = [replace(f, motion=(25.0, 30.0)) for f in faces]
    base_mode = option.get("mode", "overlay")
    base = swapper.swap(plate, moving, MergeSettings(mode=base_mode)).merged
    out = swapper.swap(plate, moving, MergeSettings(**option)).merged
    assert np.abs(out.astype(int) - base).mean() > 0.05, option


def test_raw_rgb_patch_reprojected_with_its_matrix_lands_on_the_face(swapper, frame):
    plate, faces = frame
    r = swapper.swap(plate, faces, MergeSettings(mode="raw-rgb", face_scale=10))
    patch = r.patches[0]
    h, w = plate.shape[:2]
    size = patch.face.shape[0]
    tl = patch_matrix(patch.matrix, size, w, h, "top-left")  # continuous coordinates, y down
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    to_cv = np.linalg.inv(half) @ tl @ half  # back to OpenCV pixel centres, as a compositor's tool would
    placed = cv2.warpAffine(patch.face, to_cv[:2], (w, h), flags=cv2.INTER_CUBIC)
    inside = cv2.warpAffine(np.ones((size, size), np.float32), to_cv[:2], (w, h), flags=cv2.INTER_LINEAR) > 0.999
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    diff = np.abs(placed[inside] * 255 - r.merged[inside].astype(np.float32))
    assert inside.sum() > 10000 and diff.mean() < 1.5
    bl = patch_matrix(patch.matrix, size, w, h, "bottom-left")  # Nuke: y up, same corners mirrored
    for (x1, y1), (x2, y2) in zip(patch_roi(tl, size), patch_roi(bl, size)[::-1], strict=True):
        assert abs(x1 - x2) < 1e-3 and abs(y1 - (h - y2)) < 1e-3


def test_float_plate_keeps_pixels_outside_the_mask(swapper, exr_plate, shot):
    plate = read_image(exr_plate / "plate.1003.exr")
    track = build_track(shot, shot / "aligned", smooth=False, detect_cut=False)
    r = swapper.swap(plate, track.faces(FRAME), MergeSettings(blur=20), working_space="ACEScg")
    assert r.merged.dtype == np.float32
    outside = r.face_mask == 0
    assert np.array_equal(r.merged[outside], plate[outside])
    assert np.abs(r.merged[r.face_mask > 0.99] - plate[r.face_mask > 0.99]).mean() > 0.01
    face = r.face_pass()
    assert np.all(face[outside] == 0) and face.max() > 0.05


def test_two_faces_and_no_face(swapper, frame):
    plate, faces = frame
    other = FaceInput(faces[0].landmarks + [150.0, 0.0])
    r = swapper.swap(plate, [faces[0], other], MergeSettings())
    single = swapper.swap(plate, faces, MergeSettings())
    assert r.faces == 2 and r.mask.sum() > 1.5 * single.mask.sum() and len(r.patches) == 2
    empty = swapper.swap(plate, [], MergeSettings())
    assert np.array_equal(empty.merged, plate) and empty.mask.max() == 0 and empty.face_pass().max() == 0
