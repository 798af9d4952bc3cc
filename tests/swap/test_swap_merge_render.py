"""`facecomp merge` (outputs, resume after a kill, preview, settings file) and `facecomp render` (stateless ranges,
EXR passes, no-face frames, clear errors)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.media.image_io import read_exr_layers, read_image
from engine.swap.outputs import PASS_COMPRESSION
from engine.swap.render import render_range
from engine.swap.track_build import build_track
from tests.conftest import REPO, assert_clean_error, run_facecomp


def _exr(path) -> dict[str, np.ndarray]:
    """The channels of an EXR over its display window, read straight from the file (no shared ImageCache)."""
    return read_exr_layers(path)[0]


def _mismatch(a_path, b_path) -> dict:
    """How two pass files differ ({} when their pixels are equal), and whether the files are byte-identical."""
    diff = _differences(_exr(a_path), _exr(b_path))
    if diff:
        digests = [hashlib.sha256(pathlib.Path(p).read_bytes()).digest() for p in (a_path, b_path)]
        diff["files byte-identical"] = digests[0] == digests[1]
    return diff


def _differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, tuple[int, float]]:
    """Channels that differ: (pixels that differ, max abs difference)."""
    out = {}
    for k in a:
        d = np.abs(a[k] - b[k])
        if not np.array_equal(a[k], b[k]):
            out[k] = (int(np.count_nonzero(d)), float(np.nanmax(d)))
    return out


def _images(folder) -> dict[str, np.ndarray]:
    return {p.name: read_image(p) for p in sorted(folder.iterdir()) if p.is_file()}


def test_merge_writes_frames_masks_passes_and_patches(models, shot, tmp_path):
    out = tmp_path / "merged"
    res = run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--aligned", shot / "aligned",
                       "--out", out, "--mask-out", tmp_path / "merged_mask", "--passes-out", tmp_path / "passes",
                       "--mode", "overlay", "--mask-mode", "learned-prd*learned-dst", "--erode", "10", "--blur", "20",
                       "--color-transfer", "rct")
    assert "12 frames merged" in res.out
    names = [f"{i:05d}.png" for i in range(1, 13)]
    assert sorted(p.name for p in out.iterdir()) == names
    assert sorted(p.name for p in (tmp_path / "merged_mask").iterdir()) == names
    assert len(list((tmp_path / "passes").glob("*.exr"))) == 12
    ch = _exr(tmp_path / "passes" / "00004.exr")
    assert sorted(ch) == sorted(["face.R", "face.G", "face.B", "facemask.A", "facemask_face0.A", "CryptoFace00.R",
                                 "CryptoFace00.G", "CryptoFace00.B", "CryptoFace00.A", "CryptoFace01.R",
                                 "CryptoFace01.G", "CryptoFace01.B", "CryptoFace01.A", "stmap.R", "stmap.G"])
    assert ch["facemask.A"].shape == (388, 512) and ch["facemask.A"].max() > 0.99  # display window = the plate
    assert np.array_equal(ch["facemask.A"], ch["facemask_face0.A"])  # one face: its matte is the mask
    assert np.all(ch["face.R"][ch["facemask.A"] == 0] == 0)  # premultiplied by the mask
    spec = oiio.ImageInput.open(str(tmp_path / "passes" / "00004.exr")).spec()
    assert spec.width * spec.height < 0.8 * 512 * 388 and (spec.full_width, spec.full_height) == (512, 388)
    sidecar = json.loads((tmp_path / "passes" / "patches" / "00004.json").read_text())
    assert sidecar["origin"] == "bottom-left" and sidecar["frame_size"] == [512, 388]
    face = sidecar["faces"][0]
    assert (tmp_path / "passes" / "patches" / face["patch"]).is_file() and len(face["roi"]) == 4
    assert np.array(face["matrix"]).shape == (3, 3)


def test_merge_killed_midway_resumes_with_the_same_pixels(models, shot, tmp_path):
    full = tmp_path / "full"
    run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--out", full / "merged", "--workers", "1")
    out = tmp_path / "run"
    session = out / "merged.session.jsonl"
    cmd = [sys.executable, "-m", "engine", "merge", "--model", str(models["tiny"]), "--frames", str(shot), "--out",
           str(out / "merged"), "--workers", "1", "--blur", "0"]
    env = {**os.environ, "FACECOMP_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if session.exists() and len(session.read_text().splitlines()) >= 4:  # header + 3 frames
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    done_before = len(list((out / "merged").glob("*.png")))
    res = run_facecomp(*cmd[3:])
    skipped = int(res.out.split(",")[1].split()[0])
    assert done_before < 12 and skipped >= 3 and skipped >= done_before - 1
    assert not [p for p in (out / "merged").iterdir() if p.name.startswith(".")]  # no temporary leftovers
    a, b = _images(full / "merged"), _images(out / "merged")
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    again = run_facecomp(*cmd[3:])
    assert again.out.startswith("0 frames merged") and "12 already done" in again.out
    changed = run_facecomp(*cmd[3:-2], "--blur", "30")  # a new setting redoes the frames
    assert changed.out.startswith("12 frames merged")


def test_preview_and_settings_file(models, shot, tmp_path):
    settings = tmp_path / "merge.toml"
    settings.write_text('mode = "overlay"\nblur = 10\n\n[[frames]]\nrange = "5-6"\nmode = "raw-rgb"\n')
    res = run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--out", tmp_path / "merged",
                       "--settings", settings, "--preview", "5")
    paths = res.out.split()
    assert [p.rsplit("/", 1)[1] for p in paths] == ["00005_merged.png", "00005_mask.png", "00005_side.png"]
    side = read_image(paths[2])
    assert side.shape[1] == 3 * 512 and not (tmp_path / "merged").exists()
    run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--out", tmp_path / "merged",
                 "--settings", settings, "--no-mask")
    plate5, plate4 = read_image(shot / "00005.png"), read_image(shot / "00004.png")
    m5, m4 = read_image(tmp_path / "merged" / "00005.png"), read_image(tmp_path / "merged" / "00004.png")
    square = lambda a, b: (np.abs(a.astype(int) - b).max(axis=2) > 0).sum()  # noqa: E731
    assert square(m5, plate5) > 1.3 * square(m4, plate4)  # raw-rgb pastes the whole face square
    bad = run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--out", tmp_path / "m2",
                       "--mask-mode", "XSeg-prd", check=False)
    assert_clean_error(bad, "--xseg-model")
    xseg = run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--out", tmp_path / "m3",
                        "--preview", "2", "--mask-mode", "XSeg-prd*XSeg-dst", "--xseg-model", models["xseg"])
    assert read_image(xseg.out.split()[1]).max() > 200  # the mask
    missing = run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--out", tmp_path / "m4",
                           "--mask-mode", "XSeg-dst", "--xseg-model", tmp_path / "none.onnx", check=False)
    assert_clean_error(missing, "none.onnx")


def test_range_render_equals_full_render(models, exr_plate, shot, tmp_path):
    pattern = str(exr_plate / "plate.%04d.exr")
    every = ("rgba", "face", "facemask", "mattes", "crypto", "stmap")
    full = render_range(models["tiny"], pattern, None, str(tmp_path / "full" / "fs.%04d.exr"), {"blur": 20},
                        working_space="ACEScg", passes=every)
    part = render_range(models["tiny"], pattern, [1004, 1005], str(tmp_path / "part" / "fs.%04d.exr"), {"blur": 20},
                        working_space="ACEScg", passes=every)
    assert full.frames == list(range(1001, 1009)) and full.faces == 8 and part.frames == [1004, 1005]
    for n in (1004, 1005):
        assert not _mismatch(tmp_path / "full" / f"fs.{n}.exr", tmp_path / "part" / f"fs.{n}.exr"), n
    plate = _exr(exr_plate / "plate.1004.exr")
    out = _exr(tmp_path / "full" / "fs.1004.exr")
    assert oiio.ImageBuf(str(tmp_path / "full" / "fs.1004.exr")).spec().get_string_attribute("compression") == \
        PASS_COMPRESSION
    outside = out["facemask.A"] == 0
    assert np.array_equal(out["R"][outside], plate["R"][outside])  # linear plate untouched outside the mask
    # with a smoothed track of the shot: the same statelessness, through the CLI
    track = build_track(shot, shot / "aligned")
    renumbered = {n + 1000: f for n, f in track.frames.items() if n <= 8}
    for n, f in renumbered.items():
        f.number = n
    track.frames = renumbered
    track.save(tmp_path / "shot.track.json")
    args = ["render", "--model", models["tiny"], "--plate", pattern, "--track", tmp_path / "shot.track.json",
            "--working-space", "ACEScg", "--motion-blur", "50"]
    run_facecomp(*args, "--frames", "1001-1008", "--out", tmp_path / "tf" / "fs.%04d.exr")
    run_facecomp(*args, "--frames", "1006", "--out", tmp_path / "tp" / "fs.%04d.exr")
    assert not _mismatch(tmp_path / "tf" / "fs.1006.exr", tmp_path / "tp" / "fs.1006.exr")


def test_render_no_face_frame_and_errors(models, data, exr_plate, tmp_path):
    no_face = data / "images" / "no_face" / "grass.jpg"
    plate = tmp_path / "nf.0001.png"
    plate.write_bytes(no_face.read_bytes())
    run_facecomp("render", "--model", models["tiny"], "--plate", tmp_path / "nf.%04d.png", "--out",
                 tmp_path / "o.%04d.exr", "--passes", "rgba,face,mask")
    ch = _exr(tmp_path / "o.0001.exr")
    img = read_image(plate)
    assert ch["facemask.A"].max() == 0 and ch["face.G"].max() == 0
    assert np.abs(ch["G"] - img[..., 1] / 255.0).max() < 2e-3  # the plate passes through
    run_facecomp("render", "--model", models["tiny"], "--plate", tmp_path / "nf.%04d.png", "--out",
                 tmp_path / "d.%04d.exr")  # the default passes: no face, a 1x1 data window of zeros
    spec = oiio.ImageInput.open(str(tmp_path / "d.0001.exr")).spec()
    assert (spec.width, spec.height, spec.full_width, spec.full_height) == (1, 1, img.shape[1], img.shape[0])
    assert all(v.max() == 0 for v in _exr(tmp_path / "d.0001.exr").values())
    pattern = str(exr_plate / "plate.%04d.exr")
    res = run_facecomp("render", "--model", models["tiny"], "--plate", pattern, "--frames", "990-1001", "--out",
                       tmp_path / "x.%04d.exr", check=False)
    assert_clean_error(res, "not in the plate")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "p.0001.exr").write_bytes(b"not an exr at all")
    res = run_facecomp("render", "--model", models["tiny"], "--plate", broken / "p.%04d.exr", "--out",
                       tmp_path / "y.%04d.exr", check=False)
    assert_clean_error(res, "p.0001.exr")
    res = run_facecomp("render", "--model", models["tiny"], "--plate", pattern, "--out", tmp_path / "z.exr",
                       check=False)
    assert_clean_error(res, "pattern")


@pytest.mark.parametrize("codec", ["h264", "prores4444"])
def test_video_has_all_frames_fps_and_audio(data, shot, tmp_path, codec):
    import av

    ref = data / "video" / "hard_hamilton_cuts_profile_multiface.mp4"  # 29.97 fps with an AAC track
    out = tmp_path / ("result.mp4" if codec == "h264" else "result.mov")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(1, 9):
        (frames / f"{i:05d}.png").write_bytes((shot / f"{i:05d}.png").read_bytes())
    res = run_facecomp("video", frames, out, "--reference", ref, "--codec", codec)
    assert "8 frames" in res.out
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.average_rate == 30000 / 1001 or abs(float(v.average_rate) - 29.97) < 0.01
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        frames_read = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        assert len(frames_read) == 8
        if codec == "prores4444":
            assert "yuva" in v.codec_context.pix_fmt
    first = read_image(frames / "00001.png").astype(np.float32)
    assert np.abs(frames_read[0].astype(np.float32) - first).mean() < 4
    res = run_facecomp("video", tmp_path / "nothing", tmp_path / "r.mp4", check=False)
    assert_clean_error(res, "nothing")
