"""The alignment track: smoothing that removes jitter but keeps motion, cuts, ids, the sidecar file, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import FacecompError
from engine.faces.align import ALIGN_POINTS
from engine.media.frames import open_frames
from engine.swap.smoothing import OneEuro, jitter, smooth_landmarks
from engine.swap.track import Track, TrackFace, TrackFrame
from engine.swap.track_build import _pixels, _thumb, assign_ids, build_track, detect_cuts, track_jitter
from tests.conftest import assert_clean_error, run_facecomp


def _noisy_still(t: int = 60, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.uniform(100, 300, (68, 2))
    truth = np.repeat(base[None], t, axis=0)
    return truth, truth + rng.normal(0, noise, truth.shape)


def test_smoothing_removes_jitter_on_a_still_face():
    truth, noisy = _noisy_still()
    smooth = smooth_landmarks(noisy, OneEuro())
    assert jitter(smooth) < 0.25 * jitter(noisy)
    assert np.sqrt(np.mean((smooth - truth) ** 2)) < 0.6 * np.sqrt(np.mean((noisy - truth) ** 2))


def test_smoothing_keeps_fast_motion():
    truth, noisy = _noisy_still(t=40)
    t = np.arange(40)[:, None, None]
    motion = np.concatenate([8.0 * t, 40 * np.sin(2 * np.pi * t / 20)], axis=2)  # 8 px/frame pan + 1.5 Hz bob
    moving = smooth_landmarks(noisy + motion, OneEuro())
    err = np.sqrt(np.mean(np.sum((moving - truth - motion) ** 2, axis=-1)[3:-3]))
    lazy = smooth_landmarks(noisy + motion, OneEuro(min_cutoff=0.3, beta=0.0))  # a plain low-pass lags
    lazy_err = np.sqrt(np.mean(np.sum((lazy - truth - motion) ** 2, axis=-1)[3:-3]))
    assert err < 2.0 and err < 0.3 * lazy_err


def _face(x: float, y: float, size: float = 100.0) -> TrackFace:
    truth, _ = _noisy_still(t=1)
    lm = (truth[0] - truth[0].min(0)) / np.ptp(truth[0], axis=0) * size + [x, y]
    return TrackFace(0, np.array([x, y, x + size, y + size]), lm, lm.copy())


def test_ids_continue_and_reset_at_cuts_and_jumps():
    frames = [TrackFrame(n, str(n), [_face(100 + 2 * n, 100)]) for n in range(1, 7)]
    frames[3].faces = [_face(400, 100)]  # frame 4: the face jumps across the frame
    frames.append(TrackFrame(7, "7", [_face(100, 100), _face(300, 120, 60)]))
    assign_ids(frames, cuts={6})
    ids = [[f.id for f in fr.faces] for fr in frames]
    assert ids[0] == ids[1] == ids[2] and ids[3] != ids[2] and ids[4] != ids[3]
    assert ids[5] != ids[4]  # frame 6 starts a new shot
    assert len(set(ids[6])) == 2


def test_cuts_found_in_a_cut_video(data):
    source = open_frames(data / "video" / "hard_hamilton_cuts_profile_multiface.mp4")
    diffs, numbers, prev = [], [], None
    for f in source:
        thumb = _thumb(f.image)
        diffs.append(float(np.mean(np.abs(thumb - prev))) if prev is not None else 0.0)
        numbers.append(f.number)
        prev = thumb
    assert detect_cuts(diffs, numbers) == [21, 83, 212]


def test_track_from_faceset_reduces_jitter_and_round_trips(shot, tmp_path):
    track = build_track(shot, shot / "aligned")
    assert sorted(track.frames) == list(range(1, 13)) and track.cuts == []
    assert all(len(f.faces) == 1 and f.faces[0].file for f in track.frames.values())
    raw, smoothed = track_jitter(track, ALIGN_POINTS)
    assert smoothed < 0.6 * raw
    track.save(tmp_path / "t.json")
    again = Track.load(tmp_path / "t.json")
    a, b = track.faces(5)[0], again.faces(5)[0]
    assert np.abs(a.landmarks - b.landmarks).max() < 1e-3 and b.motion is not None
    with pytest.raises(FacecompError, match="not in the track"):
        again.faces(99)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "something"}))
    with pytest.raises(FacecompError, match="bad.json"):
        Track.load(tmp_path / "bad.json")


def test_track_header_lists_the_identities_its_faces_have(shot, tmp_path):
    """The header's ``identities`` (what the hosts name faces from) is written before the frames and must match
    them: a track whose faces were edited without it fails to load with one line; one without it (older) loads."""
    track = build_track(shot, shot / "aligned")
    track.save(tmp_path / "t.json")
    text = (tmp_path / "t.json").read_text()
    data = json.loads(text)
    assert data["identities"] == track.identities() == [0] and list(data)[-1] == "frames"
    assert text.index('"identities"') < text.index('"names"') < text.index('"frames"')
    data["frames"][4]["faces"].append(dict(data["frames"][4]["faces"][0], id=1, identity=1))
    (tmp_path / "edited.json").write_text(json.dumps(data))
    with pytest.raises(FacecompError, match=r"edited.json: damaged track: its header lists identities \[0\], its "
                                            r"faces have \[0, 1\] \(re-run facecomp track\)"):
        Track.load(tmp_path / "edited.json")
    del data["identities"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert Track.load(tmp_path / "old.json").face_names == ["face0", "face1"]


def test_track_cli(shot, tmp_path):
    out = tmp_path / "shot.track.json"
    res = run_facecomp("track", shot, "--aligned", shot / "aligned", "--out", out)
    assert "jitter" in res.out and out.is_file()
    data = json.loads(out.read_text())
    assert data["format"] == "facecomp-track" and len(data["frames"]) == 12
    assert len(data["frames"][0]["faces"][0]["landmarks"]) == 68
    bad = run_facecomp("track", shot, "--aligned", tmp_path / "nowhere", "--out", out, check=False)
    assert_clean_error(bad, "nowhere")


def test_track_cli_frame_range(shot, data, tmp_path):
    full = build_track(shot, shot / "aligned")
    out = tmp_path / "range.track.json"
    res = run_facecomp("track", shot, "--aligned", shot / "aligned", "--frames", "3-5,9", "--out", out)
    assert res.out.startswith("4 frames, 4 faces")
    part = Track.load(out)
    assert sorted(part.frames) == [3, 4, 5, 9]
    for n in part.frames:
        np.testing.assert_allclose(part.frames[n].faces[0].raw, full.frames[n].faces[0].raw, atol=1e-3)
    bad = run_facecomp("track", shot, "--frames", "11-14", "--out", tmp_path / "none.json", check=False)
    assert_clean_error(bad, "frame(s) 13, 14 not in the shot (1-12)")
    assert not (tmp_path / "none.json").exists()
    assert_clean_error(run_facecomp("track", shot, "--frames", "5-3", check=False), "--frames")
    # the pixels of a range: read one by one from a sequence, decoded in one pass from a video
    for source in (open_frames(shot), open_frames(data / "video" / "dst_obama_speaking.mp4")):
        got = list(_pixels(source, [2, 5]))
        assert len(got) == 2 and all(np.array_equal(g, source.read(n)) for g, n in zip(got, (2, 5), strict=True))
