"""The Resolve/Fusion comp script (resolve_plugin/facecomp_fusion.py) against the Fusion double, running the real
`facecomp render` on real frames: Loader plates (Fusion Studio) and MediaIn plates (Resolve's Fusion page)."""

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


def test_loader_plate_builds_the_pass_tools(fusion, media, tmp_path):
    comp, loader, media_out = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE, blur=20, mode="overlay",
                            color_transfer="rct")
    assert facecomp_fusion.main(comp, log=lambda *_: None) is True
    merged, face, over = (comp.FindTool(n) for n in ("FaceSwap_merged", "FaceSwap_face", "FaceSwap_over"))
    assert merged.ID == "Loader" and face.ID == "Loader" and over.ID == "Merge"
    assert over.Background.GetConnectedOutput().GetTool() is loader
    assert over.Foreground.GetConnectedOutput().GetTool() is face
    assert media_out.Input.GetConnectedOutput().GetTool() is merged, "the comp's output now shows the swap"
    assert face.GetInput("Clip1.OpenEXRFormat.RedName") == "face.R"
    assert face.GetInput("Clip1.OpenEXRFormat.AlphaName") == "mask.A"
    assert merged.GlobalIn[comp.TIME_UNDEFINED] == FRAMES[0] and merged.GetInput("GlobalOut") == FRAMES[-1]
    out_dir = tmp_path / "facecomp" / "passes"
    assert sorted(p.name for p in out_dir.iterdir()) == [f"faceswap.{f}.exr" for f in FRAMES]
    passes = read_exr(out_dir / "faceswap.1003.exr")
    assert {"R", "G", "B", "A", "face.R", "mask.A"} <= set(passes) and passes["mask.A"].max() > 0.9
    shown = merged._image(1003)
    np.testing.assert_allclose(shown["R"], passes["R"], atol=1e-3)
    premult = face._image(1003)
    np.testing.assert_allclose(premult["A"], passes["mask.A"], atol=1e-3)
    assert comp._locks == 0 and comp._undo == 0
    stored = json.loads(comp.GetData("facecomp.faceswap"))
    assert stored["blur"] == 20 and stored["color_transfer"] == "rct" and stored["model"] == str(media["model"])


def test_second_run_updates_the_same_tools_with_the_stored_settings(fusion, media, tmp_path):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp.SetAttrs({"COMPN_RenderStart": 1004.0, "COMPN_RenderEnd": 1004.0})
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE, erode=-10)
    assert facecomp_fusion.main(comp, log=lambda *_: None)
    n_tools = len(comp.GetToolList())
    comp._answer = _answers()  # the user accepts the remembered settings
    assert facecomp_fusion.main(comp, log=lambda *_: None)
    defaults = {c[1]: c["Default"] for c in comp.dialogs[-1][1].values()}
    assert defaults["erode"] == -10 and defaults["model"] == str(media["model"])
    assert len(comp.GetToolList()) == n_tools, "no duplicate FaceSwap tools"


def test_mediain_plate_is_written_to_exr_then_swapped(fusion, media, data, tmp_path):
    """Resolve's Fusion page: the clip comes in through MediaIn; its frames go to EXR through a temporary Saver."""
    comp = fusion._new_comp(0, 2, "")
    media_in = comp.AddTool("MediaIn", -32768, -32768)
    media_in._source = fusionscript.media_in_source(str(data / "video" / "dst_obama_speaking.mp4"), 0)
    media_out = comp.AddTool("MediaOut", -32768, -32768)
    media_out.Input = media_in
    comp._answer = _answers(model=str(media["model"]), out_dir=str(tmp_path / "out"))
    assert facecomp_fusion.main(comp, log=lambda *_: None) is True
    plate = sorted(p.name for p in (tmp_path / "out" / "plate").iterdir())
    assert plate == ["plate.0000.exr", "plate.0001.exr", "plate.0002.exr"]
    assert [t.ID for t in comp.GetToolList().values()].count("Saver") == 0, "the temporary Saver is removed"
    passes = read_exr(tmp_path / "out" / "passes" / "faceswap.0001.exr")
    assert passes["mask.A"].max() > 0.9
    media_plate = media_in._image(1)
    outside = passes["mask.A"] == 0
    np.testing.assert_allclose(passes["G"][outside], media_plate["G"][outside], atol=2e-3)
    assert media_out.Input.GetConnectedOutput().GetTool().Name == "FaceSwap_merged"


def test_errors_are_shown_and_nothing_is_built(fusion, media, tmp_path):
    comp, _, media_out = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(tmp_path / "missing.onnx"))
    assert facecomp_fusion.main(comp, log=lambda *_: None) is False
    title, controls = comp.dialogs[-1]
    assert title.endswith("error") and "missing.onnx" in controls[1]["Default"]
    assert comp.FindTool("FaceSwap_merged") is None and comp._locks == 0 and comp._undo == 0
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    comp._answer = _answers(model=str(bad))
    assert facecomp_fusion.main(comp, log=lambda *_: None) is False
    assert "bad.onnx" in comp.dialogs[-1][1][1]["Default"], comp.dialogs[-1][1][1]["Default"]
    assert media_out.Input.GetConnectedOutput().GetTool().Name == "Loader1"


def test_cancelled_dialog_and_missing_facecomp(fusion, media, tmp_path, monkeypatch):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = lambda title, controls: None
    assert facecomp_fusion.main(comp, log=lambda *_: None) is False
    assert len(comp.GetToolList()) == 2 and not os.path.exists(tmp_path / "facecomp" / "passes")
    monkeypatch.setenv("FACECOMP_EXE", str(tmp_path / "nowhere" / "facecomp"))
    comp._answer = _answers(model=str(media["model"]))
    assert facecomp_fusion.main(comp, log=lambda *_: None) is False
    assert "FACECOMP_EXE" in comp.dialogs[-1][1][1]["Default"]


@pytest.mark.parametrize("mode, message", [("hang", "wrote nothing for 1.5 s"), ("crash", "Segmentation fault")])
def test_hung_or_crashed_render_is_reported(fusion, media, tmp_path, monkeypatch, mode, message):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    monkeypatch.setenv("FACECOMP_EXE", f"{sys.executable} {HERE / 'fake_facecomp.py'} {mode}")
    monkeypatch.setattr(facecomp_fusion, "DEFAULTS", dict(facecomp_fusion.DEFAULTS, frame_timeout=1.5))
    comp._answer = _answers(model=str(media["model"]))
    assert facecomp_fusion.main(comp, log=lambda *_: None) is False
    assert message in comp.dialogs[-1][1][1]["Default"]
    assert comp.FindTool("FaceSwap_merged") is None


def test_asks_for_the_plate_when_the_comp_has_none(fusion, media, tmp_path):
    comp = fusion._new_comp(1002, 1003, str(tmp_path / "empty.comp"))
    comp._answer = _answers(plate=str(media["plate"]) % 1001, model=str(media["model"]), working_space=WORKING_SPACE)
    assert facecomp_fusion.main(comp, log=lambda *_: None) is True
    plate_loader = comp.FindTool("Loader1")
    assert plate_loader.GetInput("Clip") == str(media["plate"]) % 1001
    assert sorted(p.name for p in (tmp_path / "facecomp" / "passes").iterdir()) == \
        ["faceswap.1001.exr", "faceswap.1002.exr"]
    bad = fusion._new_comp(1002, 1003, str(tmp_path / "bad.comp"))
    bad._answer = _answers(plate=str(tmp_path / "none.1001.exr"), model=str(media["model"]))
    assert facecomp_fusion.main(bad, log=lambda *_: None) is False
    assert "no plate" in bad.dialogs[-1][1][1]["Default"] and not bad.GetToolList()
