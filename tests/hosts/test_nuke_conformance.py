"""Where real Nuke differs from a lenient double, the double behaves as Nuke and the plugin copes: EXR channel
names, dropdown values at a frame, render callbacks' node class, nested renders, cancel, live mode and the plate
passing through unrendered frames. Sources are cited in the double (tests/hosts/doubles/nuke)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hostkit import FRAMES, faceswap_on_plate, read_exr


@pytest.mark.parametrize("exr, nuke_name", [
    ("R", "rgba.red"), ("a", "rgba.alpha"), ("mask.A", "mask.alpha"), ("facemask.A", "facemask.alpha"),
    ("face.r", "face.red"), ("face.Green", "face.green"), ("face.BLUE", "face.blue"), ("Ci.R", "rgba.red"),
    ("facemask_face0.A", "facemask_face0.alpha"), ("CryptoFace00.A", "CryptoFace00.alpha"), ("stmap.G", "stmap.green"),
    ("2d.depth.Z", "d_depth.Z"), ("my-layer.R", "my_layer.red"), ("left.face.R", "face.red")])
def test_exr_channel_names_arrive_as_foundrys_reader_names_them(nuke_session, exr, nuke_name):
    from nuke._pixels import exr_to_nuke

    assert exr_to_nuke(exr, views=("left", "right")) == nuke_name


def test_mask_a_is_not_the_reserved_mask_channel(nuke_session, tmp_path):
    """EXR mask.A arrives as mask.alpha: a Copy of Nuke's built-in mask layer (mask.a) copies nothing."""
    nuke = nuke_session
    from nuke._pixels import read_exr as nuke_read
    from nuke._pixels import write_exr

    ones = np.ones((4, 4), np.float32)
    path = str(tmp_path / "m.0001.exr")
    write_exr(path, {"rgba.red": ones * 0, "mask.alpha": ones})
    assert set(nuke_read(path)) == {"rgba.red", "mask.alpha"}
    nuke._set_format(4, 4)
    read = nuke.nodes.Read(file=str(tmp_path / "m.####.exr"), first=1, last=1)
    copy = nuke.nodes.Copy(channels="mask")
    copy.setInput(1, read)  # B: nothing (black); A: the file
    nuke.frame(1)
    assert copy.sample("mask.a", 1, 1) == 0.0
    assert "mask.alpha" not in copy.channels(), "mask.alpha is not part of the built-in mask layer"
    copy["channels"].setValue("all")
    assert copy.sample("mask.alpha", 1, 1) == 1.0


def test_dropdown_at_a_frame_is_an_index_and_the_plugin_sends_the_name(nuke_session, media):
    nuke = nuke_session
    import facecomp_nuke

    _, node = faceswap_on_plate(nuke, media)
    node["mode"].setValueAt("overlay", 1001)
    node["mode"].setValueAt("raw-rgb", 1003)
    assert node["mode"].getValueAt(1004) == 5.0, "Enumeration_Knob.getValueAt gives the index"
    assert facecomp_nuke.merge_overrides(node, 1004)["mode"] == "raw-rgb"
    assert facecomp_nuke.merge_overrides(node, 1002)["mode"] == "overlay"


def test_render_callbacks_default_to_write_nodes(nuke_session):
    nuke = nuke_session
    calls = []
    nuke.addBeforeFrameRender(lambda: calls.append(nuke.thisNode().Class()))
    assert nuke._st().callbacks["beforeFrameRender"][-1][3] == "Write"
    with pytest.raises(ValueError):
        nuke.addAfterRender("not callable")


def test_no_render_inside_a_render_or_ui_callback(nuke_session, tmp_path):
    nuke = nuke_session
    inner = nuke.nodes.Write(file=str(tmp_path / "inner.####.exr"))
    outer = nuke.nodes.Write(file=str(tmp_path / "outer.####.exr"))
    outer["beforeFrameRender"].setValue(f"nuke.execute(nuke.toNode('{inner.name()}'), 1, 1)")
    with pytest.raises(RuntimeError, match="already executing something else"):
        nuke.execute(outer, 1, 1)
    nuke.addUpdateUI(lambda: nuke.execute(inner, 1, 1), nodeClass="Write")
    with pytest.raises(RuntimeError, match="already executing something else"):
        nuke._update_ui()


def test_processed_input_in_live_mode_never_renders_from_update_ui(nuke_session, media):
    nuke = nuke_session
    import facecomp_ui

    read, node = faceswap_on_plate(nuke, media, graded=True, live=True)
    nuke.frame(1002)
    nuke._update_ui()  # would raise "already executing" if it wrote the input from here
    assert facecomp_ui._JOBS.get(node.fullName()) is None
    assert node["status"].value().startswith("ERROR") and "must be written first" in node["status"].value()
    node["status"].setValue("seen")
    nuke._update_ui()
    assert node["status"].value() == "seen", "a failing setup is not retried on every idle pass"
    node["blur"].setValue(4)  # a knob change clears it
    nuke._update_ui()
    assert node["status"].value().startswith("ERROR")


def test_missing_model_in_live_mode_is_tried_once(nuke_session, media, tmp_path):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media, live=True, model_file=str(tmp_path / "gone.onnx"))
    nuke.frame(1001)
    nuke._update_ui()
    assert "gone.onnx" in node["status"].value() and node["tile_color"].value() == 0xCC3333FF
    node["status"].setValue("seen")
    for _ in range(3):
        nuke._update_ui()
    assert node["status"].value() == "seen"


def test_cancelled_input_write_is_a_status_not_a_traceback(nuke_session, media):
    nuke = nuke_session
    read, node = faceswap_on_plate(nuke, media, graded=True)
    nuke._st().cancel_execute = True
    assert node["render_range"].execute() is None
    assert node["status"].value().startswith("cancelled"), node["status"].value()
    assert node["tile_color"].value() != 0xCC3333FF


def test_unrendered_frames_show_the_plate_and_say_why(nuke_session, media):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media)
    nuke.frame(1002)
    plate = read_exr(str(media["plate"]) % 1002)
    h = plate["R"].shape[0]
    assert node.sample("rgba.red", 200.5, h - 1 - 150 + 0.5) == pytest.approx(float(plate["R"][150, 200]), abs=1e-3)
    assert node.sample("facemask.alpha", 200.5, h - 1 - 150 + 0.5) == 0.0
    nuke._update_ui()
    assert node["status"].value() == "frame 1002 not rendered: the plate passes through"


def test_proxy_mode_is_off_while_the_input_is_written(nuke_session, media):
    nuke = nuke_session
    import facecomp_nuke

    read, node = faceswap_on_plate(nuke, media, plate_source="input")
    seen = []
    node.node("PlateWrite")["beforeFrameRender"].setValue("seen.append(nuke.root()['proxy'].value())")
    nuke._st().py_globals["seen"] = seen
    nuke.root()["proxy"].setValue(True)
    facecomp_nuke.write_input(node, [1001])
    assert seen == [False] and nuke.root()["proxy"].value() is True


@pytest.fixture(scope="module")
def two_face_track(media, tmp_path_factory):
    """A track the engine built on the plate (`facecomp track`), given a second person on its second frame (by
    the engine's writer, which lists the identities in the header) and renamed as a user does it: one edit of
    the ``names`` table (identity 0 -> hero; identity 1 keeps its default name)."""
    import json
    from dataclasses import replace

    from engine.swap.track import Track
    from tests.conftest import run_facecomp

    path = tmp_path_factory.mktemp("track") / "t.json"
    run_facecomp("track", media["plate"], "--out", path, "--frames", "1001-1002")
    track = Track.load(path)
    track.frames[1002].faces.append(replace(track.frames[1002].faces[0], id=1, identity=1))
    track.save(path)
    data = json.loads(path.read_text())
    assert data["identities"] == [0, 1]
    data["names"] = {"0": "hero"}
    path.write_text(json.dumps(data))
    return path


def test_host_face_names_follow_the_engine(two_face_track):
    """host_kit names the faces exactly as the engine names their matte layers (Track.name_of)."""
    from engine.swap.track import Track
    from host_kit.track import face_names

    assert face_names(str(two_face_track)) == Track.load(two_face_track).face_names == ["hero", "face1"]


def test_face_picker_lists_the_track_faces(nuke_session, media, two_face_track):
    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media, track_file=str(two_face_track))
    assert node["face_pick"].values() == ["all", "largest", "hero", "face1"]
    assert "facemask_hero" in nuke.layers()
    assert node.node("CopyMattes")["channels"].value() == "facemask_hero"
    node["face_pick"].setValue("hero")
    node["face_pick"].setValue("face1")
    assert node["faces"].value() == "hero,face1"
    node["face_pick"].setValue("all")
    assert node["faces"].value() == "all"


def test_controls_are_rebuilt_from_the_published_tables(nuke_session, media):
    """After a render the node takes its lists, ranges and tooltips from the worker's tables (a new engine option
    value appears in the node without a new gizmo)."""
    import facecomp_nuke

    from engine.worker.tables import option_tables
    from host_kit.options import OptionTables

    nuke = nuke_session
    _, node = faceswap_on_plate(nuke, media)
    node["color_transfer"].setValue("rct")
    tables = option_tables()
    ct = next(e for e in tables["merge"] if e["name"] == "color_transfer")
    ct["choices"] = [*ct["choices"], "new-transfer"]
    erode = next(e for e in tables["merge"] if e["name"] == "erode")
    erode["min"], erode["help"] = -100, "erode (published)"
    facecomp_nuke.apply_option_tables(node, OptionTables(tables))
    assert node["color_transfer"].values()[-1] == "new-transfer" and node["color_transfer"].value() == "rct"
    assert node["erode"]._range == (-100, 400) and node["erode"].tooltip() == "erode (published)"
    summary = facecomp_nuke.render_now(node, [1001])
    assert summary["options"]["merge"][0]["name"] == "mode", "a render brings the tables along"
    assert node["color_transfer"].values() == OptionTables(summary["options"]).choices("color_transfer")


def test_frame_without_a_face_shows_the_plate_and_says_why(nuke_session, media, tmp_path):
    """A plate frame with no face (here: black) gets empty passes; the node shows the plate and names the frame."""
    import shutil

    from nuke._pixels import read_exr as nuke_read
    from nuke._pixels import write_exr

    nuke = nuke_session
    for f in FRAMES[:2]:
        shutil.copy(str(media["plate"]) % f, tmp_path / f"plate.{f}.exr")
    black = {k: v * 0 for k, v in nuke_read(str(media["plate"]) % FRAMES[2]).items()}
    write_exr(str(tmp_path / f"plate.{FRAMES[2]}.exr"), black)
    read = nuke.nodes.Read(file=str(tmp_path / "plate.####.exr"), first=FRAMES[0], last=FRAMES[2])
    node = nuke.createNode("FaceSwap")
    node.setInput(0, read)
    node["model_file"].setValue(str(media["model"]))
    import facecomp_nuke

    facecomp_nuke.render_now(node, FRAMES[:3])
    assert node["status"].value().endswith(f"no face in 1 frame(s) ({FRAMES[2]}): plate passes through")
    nuke.frame(FRAMES[2])
    assert node.sample("facemask.alpha", 100.5, 100.5) == 0.0 and node.sample("rgba.red", 100.5, 100.5) == 0.0


def test_passes_in_a_data_window_are_placed_in_the_frame(nuke_session, media, tmp_path):
    """Passes stored only inside the faces' bounding box (or a 1-pixel window for a faceless frame) arrive in the
    right place, zero outside; the over uses them there (Nuke and Fusion read data windows natively)."""
    import OpenImageIO as oiio

    nuke = nuke_session
    w, h = 512, 388
    path = tmp_path / "win.1001.exr"
    spec = oiio.ImageSpec(3, 2, 2, "half")
    spec.x, spec.y, spec.full_width, spec.full_height = 100, 50, w, h
    spec.channelnames = ("face.R", "facemask.A")
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(np.full((2, 3, 2), 0.5, np.float32))
    out.close()
    from nuke._pixels import read_exr as nuke_read

    image = nuke_read(str(path))
    assert image["facemask.alpha"].shape == (h, w)
    assert image["facemask.alpha"][50:52, 100:103].min() == 0.5 and image["facemask.alpha"].sum() == 0.5 * 6
    assert image["face.red"][49, 100] == 0.0 and image["face.red"][50, 99] == 0.0
    read = nuke.nodes.Read(file=str(tmp_path / "win.####.exr"), first=1001, last=1001)
    assert (read.format().width(), read.format().height()) == (w, h), "the format is the display window"
    assert read.sample("facemask.alpha", 101.5, h - 1 - 50 + 0.5, frame=1001) == 0.5


def test_time_offset_is_read_directly_and_the_passes_follow_the_node_frames(nuke_session, media):
    """Read -> TimeOffset(+10) -> FaceSwap: node frame 1012 is plate frame 1002; the worker reads the plate file
    directly (no input written) and names the passes by the node's frame."""
    nuke = nuke_session
    import facecomp_nuke

    read, node = faceswap_on_plate(nuke, media)
    shift = nuke.nodes.TimeOffset(time_offset=10)
    shift.setInput(0, read)
    node.setInput(0, shift)
    facecomp_nuke.render_now(node, [1011, 1012])
    assert "rendered 2 frame(s)" in node["status"].value(), node["status"].value()
    assert not os.path.exists(node["plate_cache"].value() % 1011), "the plate file is read, not written"
    ours = read_exr(node["passes_file"].value() % 1012)
    node.setInput(0, read)  # the same plate without the offset: frame 1002
    facecomp_nuke.render_now(node, [1002])
    np.testing.assert_allclose(ours["facemask.A"], read_exr(node["passes_file"].value() % 1002)["facemask.A"],
                               atol=1e-3)


@pytest.mark.parametrize("mode, value, node_frames", [("offset", "10", [1011, 1012]), ("start at", "1", [1, 2]),
                                                      ("expression", "frame+1000", [1, 2])])
def test_read_frame_offset_is_read_directly(nuke_session, media, mode, value, node_frames):
    """A Read's own frame mapping (offset, start at, frame+K) is a constant shift: the worker reads the plate files
    directly and the passes are named by the node's frames; the double's Read shows the same file frames."""
    nuke = nuke_session
    import facecomp_graph
    import facecomp_nuke

    read, node = faceswap_on_plate(nuke, media)
    plain = read.sample("rgba.red", 200.5, 200.5, frame=1002)
    read["frame_mode"].setValue(mode)
    read["frame"].setValue(value)
    assert read.sample("rgba.red", 200.5, 200.5, frame=node_frames[1]) == plain, "the Read shows file frame 1002"
    plate, from_input, file_frames = facecomp_graph.plate_source(node, node_frames)
    assert (from_input, file_frames) == (False, dict(zip(node_frames, (1001, 1002), strict=True)))
    facecomp_nuke.render_now(node, node_frames)
    assert "rendered 2 frame(s)" in node["status"].value(), node["status"].value()
    assert not os.path.exists(node["plate_cache"].value() % node_frames[0]), "the plate file is read, not written"
    ours = read_exr(node["passes_file"].value() % node_frames[1])
    read["frame"].setValue("")
    facecomp_nuke.render_now(node, [1002])
    np.testing.assert_allclose(ours["facemask.A"], read_exr(node["passes_file"].value() % 1002)["facemask.A"],
                               atol=1e-3)


def test_read_hold_frames_are_read_and_other_frames_written_first(nuke_session, media):
    """Frames a Read holds before its range (before = hold, Nuke's default) are its first file frame, read directly;
    black before the range, and expressions that are no constant shift (frame*2), go through the input."""
    nuke = nuke_session
    import facecomp_graph
    import facecomp_nuke

    read, node = faceswap_on_plate(nuke, media)
    read["frame_mode"].setValue("offset")
    read["frame"].setValue("10")
    assert facecomp_graph.plate_source(node, [1010, 1011])[1:] == (False, {1010: 1001, 1011: 1001})
    facecomp_nuke.render_now(node, [1010, 1011])
    assert "rendered 2 frame(s)" in node["status"].value(), node["status"].value()
    held, first = (read_exr(node["passes_file"].value() % f) for f in (1010, 1011))
    np.testing.assert_allclose(held["facemask.A"], first["facemask.A"], atol=1e-6, err_msg="1010 holds file 1001")
    read["before"].setValue("black")
    assert facecomp_graph.plate_source(node, [1010, 1011])[1] is True, "a black frame is no file"
    read["frame_mode"].setValue("expression")
    read["frame"].setValue("frame*2")
    assert facecomp_graph.read_frame_offset(read) is None
    assert facecomp_graph.plate_source(node, [501])[1] is True
