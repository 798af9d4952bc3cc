"""The windowed plate read of `facecomp render` and the worker: an EXR plate with a track is decoded only in the
faces' box, and every pass comes out exactly as from the whole plate (real frames, real faces)."""

from __future__ import annotations

import shutil

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.media import color
from engine.media.image_io import ExrImage, read_exr_layers, read_image, write_exr
from engine.swap.passes import DEFAULT_PASSES, write_passes
from engine.swap.render import Renderer, load_settings
from engine.swap.track import Track
from engine.swap.track_build import build_track

EVERY_PASS_BUT_RGBA = DEFAULT_PASSES
BOX = (300, 150, 480, 330)


def _write(path, img, **kw):
    write_exr(path, {"R": img[..., 2], "G": img[..., 1], "B": img[..., 0]}, **kw)


def _tiled(path, img):
    spec = oiio.ImageSpec(img.shape[1], img.shape[0], 3, "half")
    spec.tile_width = spec.tile_height = 64
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    assert out.write_image(np.ascontiguousarray(img[..., ::-1]).astype(np.float16))
    out.close()


@pytest.mark.parametrize("layout", ["zips", "zip", "piz", "none", "data window", "tiled", "nan"])
def test_a_box_read_equals_the_full_read_inside_and_is_zero_outside(exr_plate, tmp_path, layout):
    img = read_image(exr_plate / "plate.1003.exr")
    h, w = img.shape[:2]
    path = tmp_path / "p.exr"
    if layout == "data window":  # rows and columns outside the file's data window, and an overscan edge
        _write(path, img[40:h - 30, 20:w - 10], data_origin=(20, 40), display_size=(w, h))
    elif layout == "tiled":
        _tiled(path, img)
    elif layout == "nan":
        img = img.copy()
        img[200:210, 350:360] = np.nan
        _write(path, img)
    else:
        _write(path, img, compression=layout)
    full = read_image(path)
    for box in (BOX, (0, 0, 50, 60), (w - 70, h - 20, w + 40, h + 40), (-10, -10, 30, 30), (10, 10, 10, 40)):
        with ExrImage(path) as exr:
            assert exr.size == (w, h)
            part = exr.read(box)
        assert part.dtype == np.float32 and part.shape == full.shape
        x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
        inside = np.zeros((h, w), bool)
        inside[y0:y1, x0:x1] = True
        assert np.array_equal(part[inside], full[inside]), (layout, box)
        assert not part[~inside].any(), (layout, box)
    assert np.isfinite(full).all()


def _shot_track(shot, path):
    track = build_track(shot, shot / "aligned")
    renumbered = {n + 1000: f for n, f in track.frames.items() if n <= 8}
    for n, f in renumbered.items():
        f.number = n
    track.frames = renumbered
    track.save(path)
    return path


def _same_files(a, b):
    la, aa = read_exr_layers(a)
    lb, ab = read_exr_layers(b)
    aa.pop("DateTime", None)
    ab.pop("DateTime", None)
    assert la.keys() == lb.keys() and aa == ab
    spec_a, spec_b = ExrImage(a).spec, ExrImage(b).spec
    assert (spec_a.x, spec_a.y, spec_a.width, spec_a.height) == (spec_b.x, spec_b.y, spec_b.width, spec_b.height)
    return {k: float(np.abs(la[k] - lb[k]).max()) for k in la if not np.array_equal(la[k], lb[k])}


def _render_both(renderer, pattern, frame, track, settings, tmp_path, monkeypatch, passes=EVERY_PASS_BUT_RGBA,
                 faces="all"):
    """Render ``frame`` with the windowed read and from the whole plate; the boxes the windowed read asked for."""
    whole = read_image(pattern.replace("%04d", f"{frame:04d}"))
    boxes = []
    read = ExrImage.read

    def spy(self, box=None):
        boxes.append(box)
        return read(self, box)

    monkeypatch.setattr(ExrImage, "read", spy)
    name = f"{frame}_{faces}_{abs(hash(str(settings))) % 10**8}"
    renderer.render(pattern, frame, tmp_path / "win" / f"{name}.exr", settings, track, "ACEScg", passes, faces,
                    patches_dir=tmp_path / "win" / "patches")
    monkeypatch.setattr(ExrImage, "read", read)
    renderer.render(pattern, frame, tmp_path / "full" / f"{name}.exr", settings, track, "ACEScg", passes, faces,
                    patches_dir=tmp_path / "full" / "patches", image=whole)
    assert (tmp_path / "win" / "patches" / f"{name}.json").read_text() == \
        (tmp_path / "full" / "patches" / f"{name}.json").read_text()
    # and the passes of the frame merged as `facecomp merge` does (the merged frame made, not only the passes)
    track_faces = renderer.faces(frame, whole, renderer.track(track), "ACEScg", faces)
    merged = renderer.swapper.swap(whole, track_faces, settings.for_frame(frame), "ACEScg", compose=True)
    write_passes(tmp_path / "merged" / f"{name}.exr", merged, passes, names=renderer.track(track).face_names)
    composed, _ = read_exr_layers(tmp_path / "merged" / f"{name}.exr")
    windowed, _ = read_exr_layers(tmp_path / "win" / f"{name}.exr")
    assert composed.keys() == windowed.keys() and all(np.array_equal(composed[k], windowed[k]) for k in composed)
    return _same_files(tmp_path / "win" / f"{name}.exr", tmp_path / "full" / f"{name}.exr"), boxes


SETTINGS = [
    {"blur": 20},
    {"mode": "seamless", "color_transfer": "rct"},
    {"mode": "hist-match", "mask_mode": "XSeg-dst", "erode": -30},
    {"mode": "seamless-hist-match", "face_scale": 25, "mask_mode": "XSeg-prd*XSeg-dst"},
    {"mode": "raw-rgb"},
    {"mode": "raw-predict", "mask_mode": "learned-prd*learned-dst"},
    {"mode": "overlay", "color_transfer": "lct", "motion_blur": 60, "sharpen_amount": 30, "color_degrade": 40,
     "image_denoise": 5, "bicubic_degrade": 30, "blur": 200},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=[str(i) for i in range(len(SETTINGS))])
def test_windowed_render_equals_the_whole_plate(models, make_tiny, exr_plate, shot, tmp_path, monkeypatch,
                                               settings):
    track = _shot_track(shot, tmp_path / "shot.track.json")
    half_face = make_tiny(tmp_path / "half.onnx", face_type="half_face")  # the whole_face XSeg square is wider
    renderer = Renderer(half_face, xseg_model=models["xseg"])
    pixelwise = renderer.xseg.mask  # the tiny XSeg is per pixel; a real one (convolutions) sees its whole crop:
    renderer.xseg.mask = lambda crops: pixelwise(crops) * float(np.mean(crops))  # so does this one
    pattern = str(exr_plate / "plate.%04d.exr")
    fs = load_settings(None, settings)
    w, h = ExrImage(exr_plate / "plate.1003.exr").size
    for frame in (1001, 1006):
        diff, boxes = _render_both(renderer, pattern, frame, str(track), fs, tmp_path, monkeypatch)
        assert diff == {}, (frame, diff)
        (box,) = boxes
        assert box is not None and 0 < (box[2] - box[0]) * (box[3] - box[1]) < w * h  # really a window
    # the merged rgba needs the whole plate: no window
    _, boxes = _render_both(renderer, pattern, 1002, str(track), fs, tmp_path, monkeypatch, ("rgba", "face"))
    assert boxes == [None]


def test_windowed_render_of_two_faces_and_of_a_frame_without_faces(models, data, tmp_path, monkeypatch):
    folder = tmp_path / "plate"
    folder.mkdir()
    shutil.copy(data / "images" / "multi_face" / "two_people.jpg", tmp_path / "p.jpg")
    img = color.convert(read_image(tmp_path / "p.jpg").astype(np.float32) / 255.0, color.MODEL_SPACE, "ACEScg")
    _write(folder / "p.0001.exr", img)
    _write(folder / "p.0002.exr", img)
    pattern = str(folder / "p.%04d.exr")
    track = build_track(pattern, working_space="ACEScg")
    assert len(track.frames[1].faces) == 2
    track.frames[2].faces = []  # a frame the track has no face in
    track.save(tmp_path / "t.json")
    renderer = Renderer(models["tiny"])
    for frame, faces in ((1, "all"), (2, "all"), (1, "largest")):
        diff, boxes = _render_both(renderer, pattern, frame, str(tmp_path / "t.json"),
                                   load_settings(None, {"blur": 30}), tmp_path, monkeypatch, faces=faces)
        assert diff == {} and len(boxes) == 1, (frame, faces, diff)
    assert Track.load(tmp_path / "t.json").frames[2].faces == []


@pytest.mark.parametrize("passes", [("face", "facemask"), ("face", "facemask", "mattes", "crypto"), DEFAULT_PASSES])
def test_the_data_window_is_the_mattes_box_unless_the_stmap_is_written(models, data, tmp_path, passes):
    """Without the STMap every pass is 0 outside the faces' mattes: the file stores only their box, and reads
    back (placed in the frame) exactly as the same passes stored over the faces' whole regions."""
    from engine.media.exr_parts import write_exr_parts
    from engine.swap.passes import FLOAT_CHANNELS, exr_channels

    img = read_image(data / "images" / "multi_face" / "two_people.jpg")
    renderer = Renderer(models["tiny"])
    result = renderer.swap(img, 1, load_settings(None, {"erode": 40}), None, None)
    assert len(result.layers) == 2
    write_passes(tmp_path / "box.exr", result, passes)
    regions = tuple(int(v) for v in (*np.min([la.roi[:2] for la in result.layers], 0),
                                     *np.max([la.roi[2:] for la in result.layers], 0)))
    h, w = img.shape[:2]
    write_exr_parts(tmp_path / "regions.exr", exr_channels(result, passes, (), regions), FLOAT_CHANNELS,
                    data_origin=regions[:2], display_size=(w, h))
    stored, full = ExrImage(tmp_path / "box.exr").spec, ExrImage(tmp_path / "regions.exr").spec
    if "stmap" in passes:
        assert (stored.x, stored.y, stored.x + stored.width, stored.y + stored.height) == regions
    else:
        assert stored.width * stored.height < 0.8 * full.width * full.height
        ys, xs = np.nonzero(result.face_mask)
        assert (stored.x, stored.y, stored.width, stored.height) == \
            (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    a, _ = read_exr_layers(tmp_path / "box.exr")
    b, _ = read_exr_layers(tmp_path / "regions.exr")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
