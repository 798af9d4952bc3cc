"""The Nuke plugin (nuke_plugin/, gizmos/FaceSwap.gizmo) in the nuke double, rendering real frames through the
real `facecomp worker`: the node, its knobs, interactive renders, Write/farm renders and error reporting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hostkit import DOUBLES, FRAMES, HERE, NUKE_PLUGIN, WORKING_SPACE, read_exr


def _faceswap(nuke, media, **knobs):
    read = nuke.nodes.Read(file=str(media["plate"]).replace("%04d", "####"), first=FRAMES[0], last=FRAMES[-1])
    node = nuke.createNode("FaceSwap")
    node.setInput(0, read)
    node["model_file"].setValue(str(media["model"]))
    for name, value in knobs.items():
        node[name].setValue(value)
    return read, node


def _press(node, button):
    """Press a button knob; returns the background render it started (or None)."""
    import facecomp_nuke

    node[button].execute()
    return facecomp_nuke._JOBS.get(node.fullName())


def _wait(nuke, thread, timeout=60.0):
    assert thread is not None, "the render did not start"
    thread.join(timeout)
    assert not thread.is_alive(), "the background render did not finish"
    nuke._process_events()


def test_startup_registers_gizmo_menu_and_callbacks(nuke_session):
    nuke = nuke_session
    gizmo_dir = str(NUKE_PLUGIN.parent / "gizmos")
    assert gizmo_dir in nuke.pluginPath()
    item = nuke.menu("Nodes").findItem("facecomp/FaceSwap")
    assert item is not None
    item.invoke()
    node = nuke.allNodes("FaceSwap")[0]
    assert node.Class() == "FaceSwap" and node.name() == "FaceSwap1"
    assert [n.name() for n in node.nodes() if n.Class() in ("Read", "Write")] == ["PlateWrite", "Passes"]
    assert node["passes_file"].value().endswith("FaceSwap1.%04d.exr")
    assert node["cache_dir"].value().startswith(os.environ["FACECOMP_CACHE_DIR"])
    import facecomp_nuke

    assert [c[0] for c in nuke._st().callbacks["beforeFrameRender"]] == [facecomp_nuke.before_frame_render]


def test_knobs_drive_the_pass_names_and_panel(nuke_session, media):
    nuke = nuke_session
    _, node = _faceswap(nuke, media)
    first = node["passes_file"].value()
    node["erode"].setValue(12)
    assert node["passes_file"].value() != first, "a changed setting must name new pass files"
    node["erode"].setValue(0)
    assert node["passes_file"].value() == first, "the same settings must name the same files"
    assert not node["face_index"].enabled()
    node["face_select"].setValue("index")
    assert node["face_index"].enabled()
    node["status"].setValue("x")  # a knob that does not shape the passes
    assert node["passes_file"].value() != first  # face_select changed it


def test_render_range_through_the_worker_gives_layers(nuke_session, media):
    nuke = nuke_session
    read, node = _faceswap(nuke, media, blur=20)
    t0 = time.monotonic()
    thread = _press(node, "render_range")
    assert time.monotonic() - t0 < 1.0, "the button must return at once (the render runs in the background)"
    _wait(nuke, thread)
    assert "rendered 5 frame(s)" in node["status"].value() and "CPU" in node["status"].value(), node["status"].value()
    for f in FRAMES:
        passes = read_exr(node["passes_file"].value() % f)
        assert {"R", "G", "B", "A", "face.R", "face.G", "face.B", "mask.A"} <= set(passes)
        assert passes["__format__"] == "half"
        assert passes["mask.A"].max() > 0.9, "the mask pass must cover the face"
    nuke.frame(1003)
    channels = node.channels()
    assert {"rgba.red", "rgba.alpha", "face.red", "face.green", "face.blue", "mask.a"} <= set(channels)
    passes = read_exr(node["passes_file"].value() % 1003)
    plate = read_exr(str(media["plate"]) % 1003)
    h = passes["R"].shape[0]
    y, x = np.unravel_index(np.argmax(passes["mask.A"]), passes["mask.A"].shape)
    assert node.sample("mask.a", x + 0.5, h - 1 - y + 0.5) == pytest.approx(float(passes["mask.A"][y, x]), abs=1e-3)
    assert abs(node.sample("rgba.red", x + 0.5, h - 1 - y + 0.5) - float(plate["R"][y, x])) > 1e-3, \
        "rgba must be the merged result where the face is"
    node["out_merged"].setValue(False)
    assert node.sample("rgba.red", x + 0.5, h - 1 - y + 0.5) == pytest.approx(float(plate["R"][y, x]), abs=1e-3)


def test_write_render_equals_the_passes_and_reuses_them(nuke_session, media, tmp_path):
    nuke = nuke_session
    _, node = _faceswap(nuke, media)
    write = nuke.nodes.Write(file=str(tmp_path / "comp.####.exr"), file_type="exr", channels="all")
    write.setInput(0, node)
    nuke.execute(write, 1001, 1002)
    assert "rendered 1 frame(s)" in node["status"].value()
    passes_1001 = Path(node["passes_file"].value() % 1001)
    stamp = passes_1001.stat().st_mtime_ns
    nuke.execute(write, 1001, 1001)
    assert passes_1001.stat().st_mtime_ns == stamp, "passes of unchanged settings are reused"
    comp, passes = read_exr(tmp_path / "comp.1001.exr"), read_exr(passes_1001)
    for ch in ("R", "G", "B", "face.R", "mask.A"):
        np.testing.assert_allclose(comp[ch], passes[ch], atol=1e-3)


def test_farm_range_equals_full_render(nuke_session, media, tmp_path):
    """`nuke -x -F 1003-1004 script.nk` in a fresh process gives the frames of a full interactive render."""
    nuke = nuke_session
    _, node = _faceswap(nuke, media, erode=-8, blur=16, color_transfer="rct")
    _wait(nuke, __import__("facecomp_nuke").start_render(node, FRAMES))
    full = {f: read_exr(node["passes_file"].value() % f) for f in (1003, 1004)}
    write = nuke.nodes.Write(file=str(tmp_path / "farm" / "comp.####.exr"), file_type="exr", channels="all",
                             create_directories=True)
    write.setInput(0, node)
    node["cache_dir"].setValue(str(tmp_path / "farm_cache"))  # the farm renders its own passes
    script = tmp_path / "shot.nk"
    nuke.scriptSaveAs(str(script))
    env = dict(os.environ, NUKE_PATH=str(NUKE_PLUGIN))
    r = subprocess.run([sys.executable, str(DOUBLES / "nuke_x.py"), "-x", "-F", "1003-1004", str(script)],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "farm").iterdir()) == ["comp.1003.exr", "comp.1004.exr"]
    for f in (1003, 1004):
        farm = read_exr(tmp_path / "farm" / f"comp.{f:04d}.exr")
        for ch in ("R", "G", "B", "face.R", "face.G", "face.B", "mask.A"):
            np.testing.assert_allclose(farm[ch], full[f][ch], atol=1e-3, err_msg=f"frame {f} {ch}")


def test_processed_input_is_written_before_the_render(nuke_session, media):
    nuke = nuke_session
    read, node = _faceswap(nuke, media)
    grade = nuke.nodes.Grade(multiply=0.5)
    grade.setInput(0, read)
    node.setInput(0, grade)
    import facecomp_nuke

    facecomp_nuke.render_now(node, [1001])
    cached = read_exr(node["plate_cache"].value() % 1001)
    plate = read_exr(str(media["plate"]) % 1001)
    np.testing.assert_allclose(cached["G"], plate["G"] * 0.5, atol=2e-3)
    assert read_exr(node["passes_file"].value() % 1001)["mask.A"].max() > 0.9


def test_missing_model_is_an_error_on_the_node(nuke_session, media, tmp_path):
    nuke = nuke_session
    _, node = _faceswap(nuke, media)
    node["model_file"].setValue(str(tmp_path / "gone.onnx"))
    assert _press(node, "render_frame") is None
    assert node["status"].value().startswith("ERROR:") and "gone.onnx: model file not found" in node["status"].value()
    assert node["tile_color"].value() == 0xCC3333FF
    write = nuke.nodes.Write(file=str(tmp_path / "out.####.exr"), file_type="exr")
    write.setInput(0, node)
    with pytest.raises(RuntimeError, match="gone.onnx: model file not found"):
        nuke.execute(write, 1001, 1001)
    assert not (tmp_path / "out.1001.exr").exists()


def test_bad_model_file_is_reported_by_the_worker(nuke_session, media, tmp_path):
    nuke = nuke_session
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 64)
    _, node = _faceswap(nuke, media, model_file=str(bad))
    _wait(nuke, _press(node, "render_frame"))
    status = node["status"].value()
    assert status.startswith("ERROR:") and "bad.onnx" in status and "ONNX" in status, status


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_crashed_or_hung_worker_is_reported_not_waited_for(nuke_session, media, mode, monkeypatch):
    nuke = nuke_session
    _, node = _faceswap(nuke, media, facecomp_exe=f"{sys.executable} {HERE / 'fake_facecomp.py'} {mode}",
                        frame_timeout=2)
    t0 = time.monotonic()
    thread = __import__("facecomp_nuke").start_render(node, [1001])
    assert time.monotonic() - t0 < 1.0
    _wait(nuke, thread, timeout=20)
    status = node["status"].value()
    assert status.startswith("ERROR:"), status
    if mode == "crash":
        assert "exited (code 3)" in status and "Segmentation fault" in status
    else:
        assert "no answer to 'render' in 2 s" in status
    assert time.monotonic() - t0 < 10


def test_track_button_and_render_match_facecomp_merge(nuke_session, media, saehd_model, tmp_path):
    """Build track -> Render range with a SAEHD model gives the passes `facecomp merge` gives for the same settings."""
    from tests.conftest import run_facecomp

    nuke = nuke_session
    settings = {"mode": "overlay", "mask_mode": "learned-prd*learned-dst", "erode": 10, "blur": 30,
                "color_transfer": "rct", "face_scale": 2}
    _, node = _faceswap(nuke, media, model_file=str(saehd_model), **settings)
    _wait(nuke, _press(node, "make_track"))
    track = node["track_file"].value()
    assert track.endswith("FaceSwap1.track.json") and os.path.isfile(track), node["status"].value()
    with open(track, encoding="utf-8") as fh:
        assert [f["frame"] for f in json.load(fh)["frames"]] == list(FRAMES)  # the script's range, not the files'
    _wait(nuke, _press(node, "render_range"))
    assert "rendered 5 frame(s)" in node["status"].value(), node["status"].value()
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    run_facecomp("merge", "--model", saehd_model, "--frames", media["plate"], "--track", track,
                 "--out", tmp_path / "merged", "--passes-out", tmp_path / "passes", "--working-space", WORKING_SPACE,
                 "--face-select", "largest", *flags)
    merged = sorted((tmp_path / "passes").glob("*.exr"))
    assert len(merged) == len(FRAMES)
    for f, path in zip(FRAMES, merged, strict=True):
        ours, theirs = read_exr(node["passes_file"].value() % f), read_exr(path)
        assert str(f) in path.name and ours["mask.A"].max() > 0.1
        for ch in ("R", "G", "B", "A", "face.R", "face.G", "face.B", "mask.A"):
            np.testing.assert_allclose(ours[ch], theirs[ch], atol=2e-3, err_msg=f"frame {f} {ch}")


def test_live_mode_renders_the_viewed_frame_once(nuke_session, media):
    nuke = nuke_session
    import facecomp_nuke

    _, node = _faceswap(nuke, media, live=True)
    nuke.frame(1002)
    nuke._update_ui()
    _wait(nuke, facecomp_nuke._JOBS.get("FaceSwap1"))
    assert os.path.isfile(node["passes_file"].value() % 1002)
    assert not os.path.isfile(node["passes_file"].value() % 1003)
    nuke._update_ui()
    assert facecomp_nuke._JOBS.get("FaceSwap1") is None, "a rendered frame is not rendered again"
    node["live"].setValue(False)
    nuke.frame(1003)
    nuke._update_ui()
    assert facecomp_nuke._JOBS.get("FaceSwap1") is None


def test_cancel_from_the_progress_bar(nuke_session, media):
    nuke = nuke_session
    _, node = _faceswap(nuke, media)
    nuke._st().cancel_tasks = True
    _wait(nuke, _press(node, "render_range"))
    assert node["status"].value().startswith("cancelled"), node["status"].value()
    assert node["tile_color"].value() != 0xCC3333FF
    assert not os.path.isfile(node["passes_file"].value() % 1005)


def test_chained_faceswaps_render_upstream_first(nuke_session, media, tmp_path):
    """A second FaceSwap fed by the first: its input is written to the cache, which needs the first's passes."""
    nuke = nuke_session
    _, first = _faceswap(nuke, media, erode=20)
    second = nuke.createNode("FaceSwap")
    second.setInput(0, first)
    second["model_file"].setValue(str(media["model"]))
    second["mode"].setValue("raw-rgb")
    write = nuke.nodes.Write(file=str(tmp_path / "chain.####.exr"), file_type="exr", channels="all")
    write.setInput(0, second)
    nuke.execute(write, 1004, 1004)
    first_passes = read_exr(first["passes_file"].value() % 1004)
    written_input = read_exr(second["plate_cache"].value() % 1004)
    np.testing.assert_allclose(written_input["R"], first_passes["R"], atol=2e-3)
    out = read_exr(tmp_path / "chain.1004.exr")
    np.testing.assert_allclose(out["R"], read_exr(second["passes_file"].value() % 1004)["R"], atol=1e-3)


def test_stop_worker_ends_a_stuck_render_at_once(nuke_session, media):
    nuke = nuke_session
    _, node = _faceswap(nuke, media, facecomp_exe=f"{sys.executable} {HERE / 'fake_facecomp.py'} hang",
                        frame_timeout=600)
    import facecomp_nuke

    thread = _press(node, "render_frame")
    deadline = time.monotonic() + 20
    def hang_worker_up():
        return any(w.alive and w.info for w in facecomp_nuke._POOL.workers() if w.command[-1] == "hang")

    while not hang_worker_up() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    t0 = time.monotonic()
    node["stop_worker"].execute()
    assert time.monotonic() - t0 < 2.0, "Stop worker must not wait for the stuck render"
    _wait(nuke, thread, timeout=10)
    assert node["status"].value().startswith("ERROR: facecomp worker exited"), node["status"].value()
