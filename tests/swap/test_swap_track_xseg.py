"""A track built with an XSeg model (`facecomp track --xseg-model`): a stored mask per face, equal to what the
merger computes live; renders with it need no XSeg model for XSeg-dst; old tracks still load; bad models fail."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace

import numpy as np
import pytest

from engine.errors import FacecompError
from engine.faces.faceset import decode_mask, encode_mask, list_faces, read_meta, update_meta
from engine.media.color import MODEL_SPACE
from engine.media.image_io import read_exr_layers, read_image
from engine.swap.onnx_model import FaceSwapModel
from engine.swap.pipeline import FrameSwapper, differing_space, plate_xseg
from engine.swap.render import render_range
from engine.swap.settings import MergeSettings
from engine.swap.track import Track
from engine.swap.track_build import build_track
from engine.xseg.apply import XSegApplier
from tests.conftest import REPO, assert_clean_error, run_facecomp

PNG_STEP = 0.5 / 255 + 1e-6  # an 8-bit PNG keeps a 0..1 mask to half a step


@pytest.fixture(scope="module")
def masked_shot(shot, tmp_path_factory):
    """The shot with its faceset, one face of which (frame 3) has an applied XSeg mask (the image-left half)."""
    d = tmp_path_factory.mktemp("masked_shot")
    for p in sorted(shot.glob("*.png")):
        shutil.copy(p, d / p.name)
    shutil.copytree(shot / "aligned", d / "aligned")
    face = list_faces(d / "aligned")[2]
    meta = read_meta(face)
    half = np.zeros((meta.size, meta.size), np.float32)
    half[:, : meta.size // 2] = 1.0
    update_meta(face, replace(meta, xseg_mask=encode_mask(half)))
    return d


@pytest.fixture(scope="module")
def xseg_track(models, masked_shot, tmp_path_factory):
    """`facecomp track --xseg-model` on the shot: (track file, the CLI's result)."""
    out = tmp_path_factory.mktemp("tracks") / "shot.track.json"
    res = run_facecomp("track", masked_shot, "--out", out, "--frames", "1-12", "--xseg-model", models["xseg"])
    return out, res


def test_track_stores_the_live_xseg_mask_of_every_face(models, masked_shot, xseg_track):
    out, res = xseg_track
    assert "XSeg masks" in res.out
    replaced = [line for line in res.err.splitlines() if "replace" in line]
    assert len(replaced) == 1 and "1 faces have an applied XSeg mask" in replaced[0], res.err
    header = json.loads(out.read_text())["xseg"]
    assert header == {"model": str(models["xseg"].resolve()), "face_type": "whole_face", "resolution": 256}
    track = Track.load(out)
    assert track.xseg == header
    xseg = XSegApplier(models["xseg"])
    for n, frame in track.frames.items():
        assert frame.faces, n
        plate = read_image(masked_shot / f"{n:05d}.png")
        live = plate_xseg(xseg, plate, differing_space(plate, None, MODEL_SPACE), MODEL_SPACE,
                          [f.landmarks for f in frame.faces])
        for face, (mask, mat) in zip(frame.faces, live, strict=True):
            stored = decode_mask(face.xseg_mask)
            assert stored.shape == (256, 256) and stored.min() < 0.5 < stored.max()
            assert np.abs(stored - mask).max() <= PNG_STEP, n
            assert stored[:, 128:].mean() > 0.5  # frame 3: not the faceset's mask (the image-left half only)
            np.testing.assert_allclose(face.xseg_mat, mat, atol=1e-5)


def test_render_with_the_masked_track_needs_no_xseg_model(models, shot, masked_shot, xseg_track, tmp_path, caplog):
    track_path, _ = xseg_track
    plain = tmp_path / "plain.track.json"  # the same landmarks, no stored masks: the model runs live
    build_track(masked_shot, shot / "aligned", frames=list(range(1, 13))).save(plain)
    masked = Track.load(track_path)
    assert Track.load(plain).faces(3)[0].xseg_mask is None
    frames = [2, 3, 9]
    settings = {"mask_mode": "XSeg-dst", "blur": 10}
    stored = render_range(models["tiny"], masked_shot, frames, str(tmp_path / "stored.%04d.exr"), settings,
                          track=track_path)
    live = render_range(models["tiny"], masked_shot, frames, str(tmp_path / "live.%04d.exr"), settings,
                        track=plain, xseg_model=models["xseg"])
    assert stored.faces == live.faces == 3
    assert "hull" not in caplog.text  # no face fell back to the landmark hull
    worst = 0.0
    for n in frames:
        a = read_exr_layers(tmp_path / f"stored.{n:04d}.exr")[0]["facemask.A"]
        b = read_exr_layers(tmp_path / f"live.{n:04d}.exr")[0]["facemask.A"]
        assert a.max() > 0.99 and (a > 0.5).sum() > 500
        worst = max(worst, float(np.abs(a - b).max()))
    assert worst < 0.01, worst  # PNG rounding of the stored mask, then the half-float pass
    # the swapper itself: the stored masks with no model loaded vs the model run live, same landmarks
    swap_model = FaceSwapModel(models["tiny"])
    plate = read_image(masked_shot / "00003.png")
    mode = MergeSettings(mask_mode="XSeg-dst")
    without = FrameSwapper(swap_model).swap(plate, masked.faces(3), mode).mask
    with_model = FrameSwapper(swap_model, XSegApplier(models["xseg"])).swap(plate, Track.load(plain).faces(3), mode)
    assert np.abs(without - with_model.mask).max() < 0.01
    # XSeg-prd still needs a model, and says where to give one
    with pytest.raises(FacecompError, match="--xseg-model xseg.onnx, or the node's XSeg model"):
        FrameSwapper(swap_model).swap(plate, masked.faces(3), MergeSettings(mask_mode="XSeg-prd"))


def test_float_plate_masks_match_the_live_merger(models, exr_plate):
    track = build_track(exr_plate / "plate.%04d.exr", frames=[1002, 1005], xseg_model=models["xseg"])
    swap_model = FaceSwapModel(models["tiny"])
    live = FrameSwapper(swap_model, XSegApplier(models["xseg"]))
    stored = FrameSwapper(swap_model)
    mode = MergeSettings(mask_mode="XSeg-dst")
    for n in (1002, 1005):
        image = read_image(exr_plate / f"plate.{n:04d}.exr")
        faces = track.faces(n)
        assert faces and all(f.xseg_mask is not None for f in faces)
        bare = [replace(f, xseg_mask=None, xseg_mat=None) for f in faces]
        a = stored.swap(image, faces, mode, "ACEScg").mask
        b = live.swap(image, bare, mode, "ACEScg").mask
        assert a.max() > 0.99 and np.abs(a - b).max() < 0.01, n


def test_old_track_without_the_xseg_key_loads(shot, tmp_path):
    path = tmp_path / "old.track.json"
    build_track(shot, shot / "aligned", frames=[1, 2]).save(path)
    data = json.loads(path.read_text())
    assert data["xseg"] is None
    del data["xseg"]  # as written before tracks could carry model masks
    path.write_text(json.dumps(data))
    old = Track.load(path)
    assert old.xseg is None and old.faces(2)[0].xseg_mask is None
    data["xseg"] = "xseg.onnx"
    path.write_text(json.dumps(data))
    with pytest.raises(FacecompError, match="old.track.json"):
        Track.load(path)


def test_bad_xseg_model_fails_before_writing_a_track(models, shot, tmp_path):
    out = tmp_path / "t.json"
    for bad, mentions in ((tmp_path / "none.onnx", "none.onnx"), (models["tiny"], "tiny.onnx")):
        res = run_facecomp("track", shot, "--aligned", shot / "aligned", "--out", out, "--xseg-model", bad,
                           check=False)
        assert_clean_error(res, mentions)
        assert len([line for line in res.err.splitlines() if line.strip()]) == 1, res.err
        assert not out.exists()


def test_worker_renders_xseg_dst_from_the_track_without_a_model(models, masked_shot, xseg_track, tmp_path):
    """What the hosts do: a worker with no XSeg model renders XSeg-dst from the masked track; XSeg-prd is refused
    with a message that names both the CLI flag and the node's XSeg model."""
    from host_kit import client as fc

    worker = fc.WorkerClient([sys.executable, str(REPO / "tests" / "hosts" / "facecomp_here.py")])
    worker.start()
    try:
        params = dict(plate=str(masked_shot / "%05d.png"), frames=[3], model=str(models["tiny"]),
                      track=str(xseg_track[0]), overrides={"mask_mode": "XSeg-dst"})
        reply = worker.render(out=str(tmp_path / "w.%04d.exr"), **params)
        assert reply["faces"] == 1
        mask = read_exr_layers(tmp_path / "w.0003.exr")[0]["facemask.A"]
        local = render_range(models["tiny"], masked_shot, [3], str(tmp_path / "l.%04d.exr"), {"mask_mode": "XSeg-dst"},
                             track=xseg_track[0])
        assert local.faces == 1
        np.testing.assert_array_equal(mask, read_exr_layers(tmp_path / "l.0003.exr")[0]["facemask.A"])
        params["overrides"] = {"mask_mode": "XSeg-prd"}
        with pytest.raises(fc.WorkerError, match="--xseg-model xseg.onnx, or the node's XSeg model"):
            worker.render(out=str(tmp_path / "p.%04d.exr"), **params)
    finally:
        worker.close()
