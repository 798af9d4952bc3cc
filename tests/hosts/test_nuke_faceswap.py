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
from hostkit import DOUBLES, FRAMES, HERE, NUKE_PLUGIN, WORKING_SPACE, faceswap_on_plate, read_exr


def _press(node, button):
    """Press a button knob; returns the background render it started (or None)."""
    import facecomp_ui

    node[button].execute()
    return facecomp_ui._JOBS.get(node.fullName())


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
    assert node["passes_file"].value().startswith(os.environ["FACECOMP_CACHE_DIR"])
    assert node["cache_dir"].value() == "", "the cache folder is resolved at each use, never stored by the node"
    import facecomp_nuke

    assert [c[0] for c in nuke._st().callbacks["beforeFrameRender"]] == [facecomp_nuke.before_frame_render]
    assert [c[3] for c in nuke._st().callbacks["beforeFrameRender"]] == ["Write"]
    assert {"facemask", "face", "stmap", "CryptoFace00"} <= set(nuke.layers())


def test_knobs_drive_the_pass_names_and_panel(nuke_session, media):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media)
    first = node["passes_file"].value()
    node["erode"].setValue(12)
    assert node["passes_file"].value() != first, "a changed setting must name new pass files"
    node["erode"].setValue(0)
    assert node["passes_file"].value() == first, "the same settings must name the same files"
    node["status"].setValue("x")  # a knob that does not shape the passes
    assert node["passes_file"].value() == first
    node["faces"].setValue("largest")
    assert node["passes_file"].value() != first


def test_render_range_through_the_worker_gives_layers(nuke_session, media):
    nuke = nuke_session
    read, node = faceswap_on_plate(nuke, media, blur=20)
    t0 = time.monotonic()
    thread = _press(node, "render_range")
    assert time.monotonic() - t0 < 1.0, "the button must return at once (the render runs in the background)"
    _wait(nuke, thread)
    assert "rendered 5 frame(s)" in node["status"].value() and "CPU" in node["status"].value(), node["status"].value()
    for f in FRAMES:
        passes = read_exr(node["passes_file"].value() % f)
        assert {"face.R", "face.G", "face.B", "facemask.A"} <= set(passes) and "R" not in passes, "no rgba pass"
        assert passes["__format__"] == "half"  # the image passes; 32-bit ids and STMap are in a second part
        assert passes["facemask.A"].max() > 0.9, "the mask pass must cover the face"
    nuke.frame(1003)
    channels = node.channels()
    assert {"rgba.red", "rgba.alpha", "face.red", "face.green", "face.blue", "facemask.alpha"} <= set(channels)
    passes = read_exr(node["passes_file"].value() % 1003)
    plate = read_exr(str(media["plate"]) % 1003)
    mask = passes["facemask.A"]
    h = mask.shape[0]
    y, x = np.unravel_index(np.argmax(mask), mask.shape)
    assert node.sample("facemask.alpha", x + 0.5, h - 1 - y + 0.5) == pytest.approx(float(mask[y, x]), abs=1e-3)
    over = float(passes["face.R"][y, x]) + float(plate["R"][y, x]) * (1 - float(mask[y, x]))
    assert node.sample("rgba.red", x + 0.5, h - 1 - y + 0.5) == pytest.approx(over, abs=2e-3), \
        "rgba must be the face over the plate"
    assert abs(over - float(plate["R"][y, x])) > 1e-3
    node["over"].setValue(False)
    assert node.sample("rgba.red", x + 0.5, h - 1 - y + 0.5) == pytest.approx(float(plate["R"][y, x]), abs=1e-3)


def test_write_render_equals_the_passes_and_reuses_them(nuke_session, media, tmp_path):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media)
    write = nuke.nodes.Write(file=str(tmp_path / "comp.####.exr"), file_type="exr", channels="all")
    write.setInput(0, node)
    nuke.execute(write, 1001, 1002)
    assert "rendered 1 frame(s)" in node["status"].value()
    passes_1001 = Path(node["passes_file"].value() % 1001)
    stamp = passes_1001.stat().st_mtime_ns
    nuke.execute(write, 1001, 1001)
    assert passes_1001.stat().st_mtime_ns == stamp, "passes of unchanged settings are reused"
    comp, passes = read_exr(tmp_path / "comp.1001.exr"), read_exr(passes_1001)
    for ch in ("face.R", "facemask.A"):
        np.testing.assert_allclose(comp[ch], passes[ch], atol=1e-3)
    plate = read_exr(str(media["plate"]) % 1001)
    np.testing.assert_allclose(comp["R"], passes["face.R"] + plate["R"] * (1 - passes["facemask.A"]), atol=2e-3)


def test_farm_range_equals_full_render(nuke_session, media, tmp_path):
    """`nuke -x -F 1003-1004 script.nk` in a fresh process gives the frames of a full interactive render."""
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media, erode=-8, blur=16, color_transfer="rct")
    _wait(nuke, __import__("facecomp_ui").start_render(node, FRAMES))
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
        for ch in ("face.R", "face.G", "face.B", "facemask.A"):
            np.testing.assert_allclose(farm[ch], full[f][ch], atol=1e-3, err_msg=f"frame {f} {ch}")


def test_processed_input_is_written_before_the_render(nuke_session, media):
    nuke = nuke_session
    read, node = faceswap_on_plate(nuke, media, graded=True)
    import facecomp_nuke

    facecomp_nuke.render_now(node, [1001])
    cached = read_exr(node["plate_cache"].value() % 1001)
    plate = read_exr(str(media["plate"]) % 1001)
    np.testing.assert_allclose(cached["G"], plate["G"] * 0.5, atol=2e-3)
    assert read_exr(node["passes_file"].value() % 1001)["facemask.A"].max() > 0.9


def test_missing_model_is_an_error_on_the_node(nuke_session, media, tmp_path):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media)
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
    _, node = faceswap_on_plate(nuke, media, model_file=str(bad))
    _wait(nuke, _press(node, "render_frame"))
    status = node["status"].value()
    assert status.startswith("ERROR:") and "bad.onnx" in status and "ONNX" in status, status


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_crashed_or_hung_worker_is_reported_not_waited_for(nuke_session, media, mode, monkeypatch):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media, facecomp_exe=f"{sys.executable} {HERE / 'fake_facecomp.py'} {mode}",
                        frame_timeout=2)
    t0 = time.monotonic()
    thread = __import__("facecomp_ui").start_render(node, [1001])
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
    _, node = faceswap_on_plate(nuke, media, model_file=str(saehd_model), **settings)
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
        assert str(f) in path.name and ours["facemask.A"].max() > 0.1
        for ch in ("face.R", "face.G", "face.B"):
            np.testing.assert_allclose(ours[ch], theirs[ch], atol=2e-3, err_msg=f"frame {f} {ch}")
        np.testing.assert_allclose(ours["facemask.A"], theirs["facemask.A"], atol=2e-3, err_msg=f"frame {f} mask")


def test_live_mode_renders_the_viewed_frame_once(nuke_session, media):
    nuke = nuke_session
    import facecomp_ui

    _, node = faceswap_on_plate(nuke, media, live=True)
    nuke.frame(1002)
    nuke._update_ui()
    _wait(nuke, facecomp_ui._JOBS.get("FaceSwap1"))
    assert os.path.isfile(node["passes_file"].value() % 1002)
    assert not os.path.isfile(node["passes_file"].value() % 1003)
    nuke._update_ui()
    assert facecomp_ui._JOBS.get("FaceSwap1") is None, "a rendered frame is not rendered again"
    node["live"].setValue(False)
    nuke.frame(1003)
    nuke._update_ui()
    assert facecomp_ui._JOBS.get("FaceSwap1") is None


def test_cancel_from_the_progress_bar(nuke_session, media):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media)
    nuke._st().cancel_tasks = True
    _wait(nuke, _press(node, "render_range"))
    assert node["status"].value().startswith("cancelled"), node["status"].value()
    assert node["tile_color"].value() != 0xCC3333FF
    assert not os.path.isfile(node["passes_file"].value() % 1005)


def test_chained_faceswaps_need_the_prerender_step(nuke_session, media, tmp_path):
    """A second FaceSwap fed by the first: its input must be written to the cache, which needs the first's passes.
    No render starts inside the Write's render: the frame fails with the step to run, prerender.py does it."""
    nuke = nuke_session
    _, first = faceswap_on_plate(nuke, media, erode=20)
    second = nuke.createNode("FaceSwap")
    second.setInput(0, first)
    second["model_file"].setValue(str(media["model"]))
    second["mode"].setValue("raw-rgb")
    write = nuke.nodes.Write(file=str(tmp_path / "chain.####.exr"), file_type="exr", channels="all")
    write.setInput(0, second)
    with pytest.raises(RuntimeError, match="must be written first.*prerender"):
        nuke.execute(write, 1004, 1004)
    assert second["tile_color"].value() == 0xCC3333FF
    sys.path.insert(0, str(NUKE_PLUGIN))
    import prerender

    assert prerender.prerender(1004, 1004) == ["FaceSwap1", "FaceSwap2"]
    nuke.execute(write, 1004, 1004)
    written_input = nuke._pixels.read_exr(second["plate_cache"].value() % 1004)
    nuke.frame(1004)
    first_out = nuke._pixels.evaluate(first, 1004, nuke._st())
    np.testing.assert_allclose(written_input["rgba.red"], first_out["rgba.red"], atol=2e-3)
    out = nuke._pixels.read_exr(str(tmp_path / "chain.1004.exr"))
    second_out = nuke._pixels.evaluate(second, 1004, nuke._st())
    np.testing.assert_allclose(out["rgba.red"], second_out["rgba.red"], atol=1e-3)


def test_stop_worker_ends_a_stuck_render_at_once(nuke_session, media):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media, facecomp_exe=f"{sys.executable} {HERE / 'fake_facecomp.py'} hang",
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


def test_build_track_passes_the_xseg_model(nuke_session, media, monkeypatch, tmp_path):
    """Build track with the node's XSeg model set runs `facecomp track ... --xseg-model <path>` (a recording
    stand-in for facecomp: the arguments, not the tracker) and says the track carries XSeg masks."""
    nuke = nuke_session
    xseg = tmp_path / "xseg.onnx"
    xseg.write_bytes(b"onnx")
    monkeypatch.setenv("FACECOMP_EXE", f"{sys.executable} {HERE / 'fake_facecomp.py'} record")
    _, node = faceswap_on_plate(nuke, media)
    _wait(nuke, _press(node, "make_track"))
    track = node["track_file"].value()
    assert track, node["status"].value()
    with open(track + ".args.json", encoding="utf-8") as fh:
        args = json.load(fh)
    assert "--xseg-model" not in args and node["status"].value() == f"track written: {track}"
    node["xseg_model"].setValue(str(xseg))
    _wait(nuke, _press(node, "make_track"))
    with open(track + ".args.json", encoding="utf-8") as fh:
        args = json.load(fh)
    assert args[:2] == ["track", str(media["plate"])] and args[args.index("--frames") + 1] == "1001-1005"
    assert args[args.index("--xseg-model") + 1] == str(xseg)
    assert node["status"].value() == f"track written with XSeg masks: {track}"
    node["xseg_model"].setValue(str(tmp_path / "missing.onnx"))
    assert _press(node, "make_track") is None and "no such XSeg model" in node["status"].value()
    folder = tmp_path / "xseg_model"  # an XSeg model folder, as `facecomp track --xseg-model` takes
    folder.mkdir()
    node["xseg_model"].setValue(str(folder))
    _wait(nuke, _press(node, "make_track"))
    with open(track + ".args.json", encoding="utf-8") as fh:
        assert json.load(fh)[-2:] == ["--xseg-model", str(folder)]


def test_track_built_with_xseg_masks_renders_xseg_dst_without_the_model(nuke_session, media, tmp_path):
    """Build track with the node's XSeg model (the real `facecomp track --xseg-model`) stores a mask per face;
    with the XSeg model cleared afterwards the node still renders XSeg-dst from the track's masks, the same
    mask as with the model loaded live."""
    from tests.swap.conftest import export_xseg

    nuke = nuke_session
    xseg = export_xseg(tmp_path / "xseg.onnx")
    _, node = faceswap_on_plate(nuke, media, xseg_model=str(xseg), mask_mode="XSeg-dst")
    _wait(nuke, _press(node, "make_track"), timeout=300)
    track = node["track_file"].value()
    assert node["status"].value() == f"track written with XSeg masks: {track}", node["status"].value()
    with open(track, encoding="utf-8") as fh:
        data = json.load(fh)
    assert data["xseg"]["model"] == str(xseg) and all(f["faces"][0].get("xseg_mask") for f in data["frames"])
    _wait(nuke, _press(node, "render_range"))
    live_files = node["passes_file"].value()
    live = {f: read_exr(live_files % f)["facemask.A"] for f in FRAMES}
    node["xseg_model"].setValue("")
    assert node["passes_file"].value() != live_files, "new settings, new pass files (not the cached ones)"
    _wait(nuke, _press(node, "render_range"))
    assert "rendered 5 frame(s)" in node["status"].value(), node["status"].value()
    for f in FRAMES:
        stored = read_exr(node["passes_file"].value() % f)["facemask.A"]
        assert stored.max() > 0.1
        np.testing.assert_allclose(stored, live[f], atol=3 / 255, err_msg=f"frame {f}: stored vs live XSeg mask")
