"""Stable face names on the shared multi-face videos (a few frames of each): a person who returns after a cut keeps
the name, `merge --passes-out` writes Cryptomatte + per-face mattes + STMap, each face's Cryptomatte coverage is
its mask, and names can be changed in the track file and selected with --faces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import FacecompError
from engine.media.frames import open_frames
from engine.media.image_io import read_exr_layers, read_image, write_image
from engine.swap.render import Renderer, load_settings, select_faces
from engine.swap.track import Track
from tests.conftest import assert_clean_error, run_facecomp
from tests.cryptomatte_decoder import decode

HAMILTON = "hard_hamilton_cuts_profile_multiface.mp4"
PEDESTRIANS = "multiface_pedestrians_1080p.mp4"


def _excerpt(video, numbers: list[int], folder):
    """Frames ``numbers`` of ``video`` as PNGs named by their frame number."""
    folder.mkdir()
    wanted = set(numbers)
    for frame in open_frames(video):
        if frame.number in wanted:
            write_image(folder / f"{frame.number:05d}.png", frame.image)
        if frame.number >= max(numbers):
            break
    return folder


def _check_passes(passes, frames, renderer, track):
    """Every pass file: Cryptomatte + mattes + STMap, one matte per face equal to that face's mask."""
    for path in sorted(passes.glob("*.exr")):
        number = int(path.stem)
        result = renderer.swap(read_image(frames / f"{number:05d}.png"), number, load_settings(None), track, None)
        layers, attrs = read_exr_layers(path)
        assert {"stmap.R", "stmap.G", "CryptoFace00.R", "facemask.A"} <= set(layers)
        crypto = decode(path)["CryptoFace"]
        assert sorted(crypto.manifest) == sorted(track.face_names) == sorted(json.loads(attrs["facecomp:face_names"]))
        ys, xs = _window(path)
        for layer in result.layers:
            mask = np.zeros(result.plate.shape[:2], np.float32)
            x0, y0, x1, y1 = layer.roi
            mask[y0:y1, x0:x1] = layer.mask
            full = np.zeros_like(mask)
            full[ys, xs] = crypto.matte(layer.name)  # the decoder works over the data window
            assert np.abs(full - mask).max() <= 1 / 255, (path.name, layer.name)
            assert np.abs(layers[f"facemask_{layer.name}.A"] - mask).max() <= 1 / 255, (path.name, layer.name)


def _window(path):
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    inp.close()
    return np.s_[spec.y:spec.y + spec.height], np.s_[spec.x:spec.x + spec.width]


def test_a_person_keeps_the_name_across_cuts_and_passes_decode(models, data, tmp_path):
    """Hamilton: frames 3-5 (the singer on stage, small, and the pianist) and 196-198 (the singer in close-up,
    after three cuts; the frames a track of the whole video embeds him on): the singer is one name in both, the
    pianist another."""
    numbers = [3, 4, 5, 196, 197, 198]
    frames = _excerpt(data / "video" / HAMILTON, numbers, tmp_path / "frames")
    run_facecomp("track", frames, "--out", tmp_path / "track.json")
    track = Track.load(tmp_path / "track.json")
    assert 196 in track.cuts
    before = [select_faces(track.faces(n), "largest")[0].name for n in numbers[:3]]
    after = [select_faces(track.faces(n), "largest")[0].name for n in numbers[3:]]
    assert len(set(before)) == 1 and before == after, (before, after)  # the singer, across the cut
    others = {f.name for n in numbers[:3] for f in track.faces(n)} - set(before)
    assert others and not others & set(after)  # the pianist is someone else
    res = run_facecomp("merge", "--model", models["tiny"], "--frames", frames, "--track", tmp_path / "track.json",
                       "--out", tmp_path / "merged", "--passes-out", tmp_path / "passes")
    assert "6 frames merged" in res.out
    _check_passes(tmp_path / "passes", frames, Renderer(models["tiny"]), track)

    # rename the singer in the track file; --faces picks him by the new name, in every frame
    data_ = json.loads((tmp_path / "track.json").read_text())
    identity = next(k for k, v in data_["names"].items() if v == before[0])
    data_["names"][identity] = "singer"
    (tmp_path / "track.json").write_text(json.dumps(data_))
    run_facecomp("render", "--model", models["tiny"], "--plate", frames, "--track", tmp_path / "track.json",
                 "--faces", "singer", "--out", tmp_path / "singer" / "s.%05d.exr")
    for n in numbers:
        layers, _ = read_exr_layers(tmp_path / "singer" / f"s.{n:05d}.exr")
        assert [k for k in layers if k.startswith("facemask_")] == ["facemask_singer.A"], n
        assert np.array_equal(layers["facemask_singer.A"], layers["facemask.A"]) and layers["facemask.A"].max() > 0.9
    bad = run_facecomp("render", "--model", models["tiny"], "--plate", frames, "--track", tmp_path / "track.json",
                       "--faces", "nobody", "--out", tmp_path / "x" / "s.%05d.exr", check=False)
    assert_clean_error(bad, "nobody")
    for bad_name in ("two words", "all", "face1" if before[0] != "face1" else "face2"):  # not a layer / a keyword /
        data_["names"][identity] = bad_name  # another face's name
        (tmp_path / "track.json").write_text(json.dumps(data_))
        with pytest.raises(FacecompError, match=bad_name):
            Track.load(tmp_path / "track.json")


def test_crowd_frames_write_one_matte_per_face(models, data, tmp_path):
    """Pedestrians 1080p, three frames with several faces: names stay with their faces from frame to frame and
    each face's Cryptomatte coverage is its mask."""
    frames = _excerpt(data / "video" / PEDESTRIANS, [1, 2, 3], tmp_path / "frames")
    run_facecomp("track", frames, "--out", tmp_path / "track.json")
    track = Track.load(tmp_path / "track.json")
    per_frame = [{f.name: f.landmarks.mean(0) for f in track.faces(n)} for n in (1, 2, 3)]
    assert min(len(p) for p in per_frame) >= 3
    for a, b in zip(per_frame, per_frame[1:], strict=False):  # a name moves a few pixels, never to another person
        for name in a.keys() & b.keys():
            assert np.linalg.norm(a[name] - b[name]) < 40, name
    run_facecomp("merge", "--model", models["tiny"], "--frames", frames, "--track", tmp_path / "track.json",
                 "--out", tmp_path / "merged", "--passes-out", tmp_path / "passes", "--no-mask")
    _check_passes(tmp_path / "passes", frames, Renderer(models["tiny"]), track)


def test_identity_clustering_rules():
    """Runs join the nearest earlier identity under the threshold, never one on screen in the same frames, and
    one-frame runs only when nearer still."""
    from engine.swap.identities import SAME_PERSON_SINGLE, _Run, cluster

    rng = np.random.default_rng(0)
    a, b = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 128)))

    def near(v, d):  # a unit vector at distance ~d from v
        n = rng.normal(size=128)
        n -= n @ v * v
        w = v + d * n / np.linalg.norm(n)
        return w / np.linalg.norm(w)

    runs = [_Run(0, {1, 2, 3}, 1, [near(a, 0.05) for _ in range(3)]),
            _Run(1, {1, 2, 3}, 1, [near(a, 0.2) for _ in range(3)]),  # a lookalike on screen with run 0
            _Run(2, {10, 11}, 10, [near(a, 0.05) for _ in range(2)]),  # run 0's person after a cut
            _Run(3, {12}, 12, [near(b, 0.05)]),  # someone else
            _Run(4, {20}, 20, [near(a, 0.3)]),  # one frame, too far for a one-frame join
            _Run(5, {21}, 21, [near(a, SAME_PERSON_SINGLE * 0.5)])]  # one frame, near enough
    people = cluster(runs, 0.35)
    assert people[0] == people[2] == people[5] and len({people[0], people[1], people[3], people[4]}) == 4
