"""The Resolve/Fusion comp script (resolve_plugin/facecomp_fusion.py) against the Fusion double, rendering real frames
through the real `facecomp worker`: Loader plates (Fusion Studio), MediaIn plates (Resolve's Fusion page), Loader
timing, refresh, progress and cancel, errors."""

from __future__ import annotations

import json
import os
import sys

import facecomp_fusion
import fusionscript
import numpy as np
import pytest
from hostkit import FRAMES, HERE, WORKING_SPACE, facecomp_exe, read_exr


@pytest.fixture
def fusion(monkeypatch):
    monkeypatch.setenv("FACECOMP_EXE", facecomp_exe())
    return fusionscript._reset()


def _answers(**values):
    """The user fills the dialog: given controls take these values, the rest keep their defaults."""
    def answer(title, controls):
        out = {c[1]: c.get("Default") for c in controls.values()}
        for key, value in values.items():
            control = next((c for c in controls.values() if c[1] == key), None)
            if control is None:
                continue
            out[key] = float(list(control["Options"].values()).index(value)) if "Options" in control else value
        return out
    return answer


def _plate_comp(fusion, media, tmp_path):
    comp = fusion._new_comp(FRAMES[0], FRAMES[-1], str(tmp_path / "shot.comp"))
    loader = comp.AddTool("Loader", -32768, -32768)
    loader.Clip = str(media["plate"]) % FRAMES[0]
    loader.GlobalIn = FRAMES[0]
    loader.SetInput("GlobalOut", FRAMES[-1])
    out = comp.AddTool("MediaOut", -32768, -32768)
    out.Input = loader
    return comp, loader, out


def _quiet(*_):
    return None


def test_loader_plate_builds_the_pass_tools(fusion, media, tmp_path):
    comp, loader, media_out = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE, blur=20, mode="overlay",
                            color_transfer="rct")
    assert facecomp_fusion.main(comp, log=_quiet) is True
    face, over = comp.FindTool("FaceSwap_face"), comp.FindTool("FaceSwap_over")
    assert face.ID == "Loader" and over.ID == "Merge" and comp.FindTool("FaceSwap_merged") is None
    assert over.Background.GetConnectedOutput().GetTool() is loader
    assert over.Foreground.GetConnectedOutput().GetTool() is face
    assert media_out.Input.GetConnectedOutput().GetTool() is over, "the comp's output now shows the swap"
    assert face.GetInput("Clip1.OpenEXRFormat.RedName") == "face.R"
    assert face.GetInput("Clip1.OpenEXRFormat.AlphaName") == "facemask.A"
    assert face.GlobalIn[comp.TIME_UNDEFINED] == FRAMES[0] and face.GetInput("GlobalOut") == FRAMES[-1]
    out_dir = tmp_path / "facecomp" / "passes"
    assert sorted(p.name for p in out_dir.iterdir()) == [f"faceswap.{f}.exr" for f in FRAMES]
    passes = read_exr(out_dir / "faceswap.1003.exr")
    assert {"face.R", "facemask.A"} <= set(passes) and "R" not in passes and passes["facemask.A"].max() > 0.9
    premult = face._image(1003)
    np.testing.assert_allclose(premult["A"], passes["facemask.A"], atol=1e-3)
    plate = loader._image(1003)
    np.testing.assert_allclose(over._image(1003)["R"], passes["face.R"] + plate["R"] * (1 - passes["facemask.A"]),
                               atol=2e-3)
    assert comp._locks == 0 and comp._undo == 0
    stored = json.loads(comp.GetData("facecomp.faceswap"))
    assert stored["blur"] == 20 and stored["color_transfer"] == "rct" and stored["model"] == str(media["model"])


def test_dialog_lists_come_from_the_worker(fusion, media, tmp_path):
    from engine.swap.settings import MERGE_OPTIONS

    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = lambda title, controls: None
    assert facecomp_fusion.main(comp, log=_quiet) is False
    controls = {c[1]: c for c in comp.dialogs[-1][1].values()}
    for option in MERGE_OPTIONS:
        if option.name in facecomp_fusion.DIALOG_MERGE and option.choices:
            assert list(controls[option.name]["Options"].values()) == list(option.choices)
        elif option.name in facecomp_fusion.DIALOG_MERGE:
            assert (controls[option.name]["Min"], controls[option.name]["Max"]) == (option.low, option.high)
    assert controls["faces"]["Default"] == "all"


def test_rerun_on_a_later_subrange_times_and_refreshes_the_loaders(fusion, media, tmp_path):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE, merged=1)
    assert facecomp_fusion.main(comp, log=_quiet)
    merged = comp.FindTool("FaceSwap_merged")
    before = merged._image(1004)["R"].copy()
    comp.SetAttrs({"COMPN_RenderStart": 1004.0, "COMPN_RenderEnd": 1005.0})
    n_tools = len(comp.GetToolList())
    comp._answer = _answers(erode=-30, blur=60)  # the remembered settings, a wider mask
    assert facecomp_fusion.main(comp, log=_quiet)
    assert len(comp.GetToolList()) == n_tools, "no duplicate FaceSwap tools"
    assert merged.GetInput("GlobalIn") == 1004 and merged.GetInput("GlobalOut") == 1005
    passes = read_exr(tmp_path / "facecomp" / "passes" / "faceswap.1004.exr")
    shown = merged._image(1004)
    np.testing.assert_allclose(shown["R"], passes["R"], atol=1e-3, err_msg="the Loader shows the new frame 1004")
    assert np.abs(shown["R"] - before).max() > 1e-3, "a refreshed Loader, not the stale pixels"
    defaults = {c[1]: c["Default"] for c in comp.dialogs[-1][1].values()}
    assert defaults["model"] == str(media["model"])


def test_loader_timing_rules_of_the_double(fusion, tmp_path, media):
    comp = fusion._new_comp(1, 200, "")
    loader = comp.AddTool("Loader")
    loader.SetInput("Clip", str(media["plate"]) % FRAMES[0])
    assert (loader.GetInput("GlobalIn"), loader.GetInput("GlobalOut")) == (1, 5), "reset to the comp's start"
    assert loader.SetInput("GlobalIn", 100) is False and loader.GetInput("GlobalIn") == 1, "GlobalIn past GlobalOut"
    facecomp_fusion.place_loader(loader, str(media["plate"]) % FRAMES[0], 100, 5)
    assert (loader.GetInput("GlobalIn"), loader.GetInput("GlobalOut")) == (100, 104)
    facecomp_fusion.place_loader(loader, str(media["plate"]) % FRAMES[0], 50, 2)
    assert (loader.GetInput("GlobalIn"), loader.GetInput("GlobalOut")) == (50, 51)


def test_movies_are_not_sequences(fusion, media, tmp_path):
    from host_kit.sequences import sequence_pattern

    assert sequence_pattern("/a/interview_01.mov") == (None, None)
    assert sequence_pattern("/a/plate_0101.dpx") == ("/a/plate_%04d.dpx", 101)
    comp = fusion._new_comp(0, 2, "")
    movie = comp.AddTool("Loader")
    movie.SetAttrs({"TOOLS_Name": "Interview"})
    movie._values["Clip"] = "/a/interview_01.mov"
    plate = facecomp_fusion.find_plate(comp, 0, 2)
    assert plate["pattern"] is None and plate["tool"] is movie, "a movie is written to EXR first"


def test_mediain_plate_is_written_to_exr_then_swapped(fusion, media, data, tmp_path):
    """Resolve's Fusion page: the clip comes in through MediaIn; its frames go to EXR through a temporary Saver."""
    comp = fusion._new_comp(0, 2, "")
    media_in = comp.AddTool("MediaIn", -32768, -32768)
    media_in._source = fusionscript.media_in_source(str(data / "video" / "dst_obama_speaking.mp4"), 0)
    media_out = comp.AddTool("MediaOut", -32768, -32768)
    media_out.Input = media_in
    comp._answer = _answers(model=str(media["model"]), out_dir=str(tmp_path / "out"))
    assert facecomp_fusion.main(comp, log=_quiet) is True
    plate = sorted(p.name for p in (tmp_path / "out" / "plate").iterdir())
    assert plate == ["plate.0000.exr", "plate.0001.exr", "plate.0002.exr"]
    assert [t.ID for t in comp.GetToolList().values()].count("Saver") == 0, "the temporary Saver is removed"
    passes = read_exr(tmp_path / "out" / "passes" / "faceswap.0001.exr")
    assert passes["facemask.A"].max() > 0.9
    over = media_out.Input.GetConnectedOutput().GetTool()
    assert over.Name == "FaceSwap_over"
    outside = passes["facemask.A"] == 0
    np.testing.assert_allclose(over._image(1)["G"][outside], media_in._image(1)["G"][outside], atol=2e-3)


def test_progress_and_cancel(fusion, media, tmp_path):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE)
    lines = []

    def log(line):
        lines.append(line)
        if line.startswith("facecomp: frame"):
            comp.SetData(facecomp_fusion.CANCEL_KEY, True)  # what facecomp_cancel.py does from the menu

    assert facecomp_fusion.main(comp, log=log) is False
    assert any("(1 of 5)" in line for line in lines)
    assert "cancelled" in comp.dialogs[-1][1][1]["Default"]
    assert comp.FindTool("FaceSwap_face") is None and comp._locks == 0
    sys.path.insert(0, str(facecomp_fusion.__file__).rsplit(os.sep, 1)[0])
    import facecomp_cancel

    comp.SetData(facecomp_fusion.CANCEL_KEY, None)
    assert facecomp_cancel.main(comp) and comp.GetData(facecomp_fusion.CANCEL_KEY) is True


def test_errors_are_shown_and_nothing_is_built(fusion, media, tmp_path):
    comp, _, media_out = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(tmp_path / "missing.onnx"))
    assert facecomp_fusion.main(comp, log=_quiet) is False
    title, controls = comp.dialogs[-1]
    assert title.endswith("error") and "missing.onnx" in controls[1]["Default"]
    assert comp.FindTool("FaceSwap_face") is None and comp._locks == 0 and comp._undo == 0
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    comp._answer = _answers(model=str(bad))
    assert facecomp_fusion.main(comp, log=_quiet) is False
    assert "bad.onnx" in comp.dialogs[-1][1][1]["Default"], comp.dialogs[-1][1][1]["Default"]
    assert media_out.Input.GetConnectedOutput().GetTool().Name == "Loader1"


def test_cancelled_dialog_and_missing_facecomp(fusion, media, tmp_path, monkeypatch):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = lambda title, controls: None
    assert facecomp_fusion.main(comp, log=_quiet) is False
    assert len(comp.GetToolList()) == 2 and not os.path.exists(tmp_path / "facecomp" / "passes")
    monkeypatch.setenv("FACECOMP_EXE", str(tmp_path / "nowhere" / "facecomp"))
    comp._answer = _answers(model=str(media["model"]))
    assert facecomp_fusion.main(comp, log=_quiet) is False
    assert "FACECOMP_EXE" in comp.dialogs[-1][1][1]["Default"]


@pytest.mark.parametrize("mode, message", [("hang", "no answer to 'render' in 1.5 s"),
                                           ("crash", "Segmentation fault")])
def test_hung_or_crashed_render_is_reported(fusion, media, tmp_path, monkeypatch, mode, message):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    monkeypatch.setenv("FACECOMP_EXE", f"{sys.executable} {HERE / 'fake_facecomp.py'} {mode}")
    monkeypatch.setattr(facecomp_fusion, "LOCAL_DEFAULTS", dict(facecomp_fusion.LOCAL_DEFAULTS, frame_timeout=1.5))
    comp._answer = _answers(model=str(media["model"]))
    assert facecomp_fusion.main(comp, log=_quiet) is False
    assert message in comp.dialogs[-1][1][1]["Default"]
    assert comp.FindTool("FaceSwap_face") is None


def test_asks_for_the_plate_when_the_comp_has_none(fusion, media, tmp_path):
    comp = fusion._new_comp(1002, 1003, str(tmp_path / "empty.comp"))
    comp._answer = _answers(plate=str(media["plate"]) % 1001, model=str(media["model"]), working_space=WORKING_SPACE)
    assert facecomp_fusion.main(comp, log=_quiet) is True
    plate_loader = comp.FindTool("Loader1")
    assert plate_loader.GetInput("Clip") == str(media["plate"]) % 1001
    assert (plate_loader.GetInput("GlobalIn"), plate_loader.GetInput("GlobalOut")) == (1002, 1003)
    assert sorted(p.name for p in (tmp_path / "facecomp" / "passes").iterdir()) == \
        ["faceswap.1001.exr", "faceswap.1002.exr"]
    bad = fusion._new_comp(1002, 1003, str(tmp_path / "bad.comp"))
    bad._answer = _answers(plate=str(tmp_path / "none.1001.exr"), model=str(media["model"]))
    assert facecomp_fusion.main(bad, log=_quiet) is False
    assert "no plate" in bad.dialogs[-1][1][1]["Default"] and not bad.GetToolList()
