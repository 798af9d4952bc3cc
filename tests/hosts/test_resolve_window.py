"""The FaceSwap comp script's progress window (Fusion's UIManager double, tests/hosts/doubles/fusion_ui.py) with the
real worker: progress on a bar, Cancel (button or closing the window) stopping the worker between frames, a
cancelled run leaving the previous passes whole, and the console path when there is no UIManager."""

from __future__ import annotations

import sys

import facecomp_fusion
import fusion_ui
import fusionscript
import pytest
from hostkit import FRAMES, HERE, WORKING_SPACE, facecomp_exe
from test_resolve_faceswap import _answers, _plate_comp, _quiet

from host_kit import pending
from host_kit.track import track_done_message


@pytest.fixture
def fusion(monkeypatch):
    monkeypatch.setenv("FACECOMP_EXE", facecomp_exe())
    monkeypatch.setattr(fusion_ui, "USER", None)
    return fusionscript._reset()


def _pass_bytes(tmp_path):
    return {p.name: p.read_bytes() for p in sorted((tmp_path / "facecomp" / "passes").iterdir())}


def test_progress_window_shows_each_frame(fusion, media, tmp_path):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE)
    lines = []
    assert facecomp_fusion.main(comp, log=lines.append) is True
    window = fusion_ui.DISPATCHERS[-1].windows[-1]
    items = window.GetItems()
    assert items["Bar"].Value == len(FRAMES) and items["Bar"].Maximum == len(FRAMES)
    assert items["Status"].Text == f"frame {FRAMES[-1]} ({len(FRAMES)} of {len(FRAMES)})"
    assert not window.shown, "the window closes when the passes are in"
    assert any(f"({len(FRAMES)} of {len(FRAMES)})" in line for line in lines), "the console log is kept"
    assert sorted(_pass_bytes(tmp_path)) == [f"faceswap.{f}.exr" for f in FRAMES], "no staging folder left"


@pytest.mark.parametrize("action", ["click Cancel", "close the window"])
def test_cancel_stops_the_worker_and_keeps_the_previous_passes(fusion, media, tmp_path, monkeypatch, action):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE)
    assert facecomp_fusion.main(comp, log=_quiet) is True
    before = _pass_bytes(tmp_path)

    def user(window):
        if window.GetItems()["Bar"].Value >= 1:
            window._click("Cancel") if action == "click Cancel" else window._close()

    monkeypatch.setattr(fusion_ui, "USER", user)
    comp._answer = _answers(erode=-30, blur=60)  # other settings: other pixels, had they been kept
    assert facecomp_fusion.main(comp, log=_quiet) is False
    items = fusion_ui.DISPATCHERS[-1].windows[-1].GetItems()
    assert items["Bar"].Value < len(FRAMES), "the worker stopped before the last frame"
    assert items["Status"].Text.startswith("cancelled: cancelled after") and items["Cancel"].Enabled is False
    message = comp.dialogs[-1][1][1]["Default"]
    assert message.startswith("cancelled") and "previous run are kept" in message, message
    assert _pass_bytes(tmp_path) == before, "no frame of the cancelled run replaced a pass of the previous run"


def test_console_progress_without_a_ui_manager(fusion, media, tmp_path):
    """fuscript from a shell (no UIManager): progress in the console, cancel through facecomp_cancel.py's data."""
    fusion._has_ui = False
    made = len(fusion_ui.DISPATCHERS)
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE)
    lines = []
    assert facecomp_fusion.main(comp, log=lines.append) is True
    assert len(fusion_ui.DISPATCHERS) == made, "no window without a UIManager"
    assert [line for line in lines if line.startswith("facecomp: frame")][-1].endswith(f"({len(FRAMES)} of 5)")


def test_build_track_step_passes_the_xseg_model(fusion, media, tmp_path, monkeypatch):
    """The dialog's "Build the track first" runs `facecomp track <plate> --out T --frames A-B --xseg-model X` before the
    render, in the window (a recording stand-in for facecomp: the arguments, not the tracker)."""
    xseg = tmp_path / "xseg.onnx"
    xseg.write_bytes(b"onnx")
    settings = {"build_track": 1, "out_dir": str(tmp_path / "out"), "working_space": WORKING_SPACE,
                "provider": "auto", "xseg_model": str(xseg)}
    plate = {"pattern": str(media["plate"]), "frames": FRAMES}
    args, out = facecomp_fusion.track_step(settings, plate)
    assert args == ["track", str(media["plate"]), "--out", out, "--frames", f"{FRAMES[0]}-{FRAMES[-1]}",
                    "--working-space", WORKING_SPACE, "--xseg-model", str(xseg)]
    assert facecomp_fusion.track_step(dict(settings, build_track=0), plate) is None
    record = [sys.executable, str(HERE / "fake_facecomp.py"), "record"]
    ui = fusionscript.scriptapp("Fusion").UIManager
    window = facecomp_fusion.window_kit.ProgressWindow(ui, fusion_ui.UIDispatcher(ui), "t", 1)
    window.run([("building the track...", lambda: pending.PendingCommand(record, args))])
    assert (tmp_path / "out" / "faceswap.track.json.args.json").read_text(encoding="utf-8").count("--xseg-model") == 1
    assert track_done_message(out, str(xseg)) == f"track written with XSeg masks: {out}"


def test_build_track_then_render_in_the_window(fusion, media, tmp_path):
    """With "Build the track first" the real `facecomp track` runs in the window before the render; the render
    follows the new track and a matte Loader is built per tracked face."""
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE, build_track=1)
    lines = []
    assert facecomp_fusion.main(comp, log=lines.append) is True, comp.dialogs[-1]
    track = tmp_path / "facecomp" / "faceswap.track.json"
    assert track.is_file() and f"facecomp FaceSwap: track written: {track}" in lines
    assert comp.FindTool("FaceSwap_matte_face0") is not None


def test_a_loop_ended_by_someone_else_stops_the_worker(fusion, media, tmp_path, monkeypatch):
    """Fusion ends the window's event loop while the worker renders (another script's ExitLoop): the run stops the
    worker and reports it, it does not wire half a render."""
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE)
    monkeypatch.setattr(fusion_ui, "USER", lambda window: fusion_ui.DISPATCHERS[-1].ExitLoop()
                        if window.GetItems()["Bar"].Value >= 1 else None)
    assert facecomp_fusion.main(comp, log=_quiet) is False
    assert "the progress window closed first" in comp.dialogs[-1][1][1]["Default"]
    assert comp.FindTool("FaceSwap_face") is None
    assert not list((tmp_path / "facecomp" / "passes").glob("*.exr")), "no pass file of the stopped run"


def test_worker_start_shows_in_the_window_and_can_be_cancelled(fusion, media, tmp_path, monkeypatch):
    comp, _, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE)
    seen = []

    def user(window):
        text = window.GetItems()["Status"].Text
        seen.append(text)
        if text.startswith("starting the facecomp worker"):
            window._click("Cancel")

    monkeypatch.setattr(fusion_ui, "USER", user)
    assert facecomp_fusion.main(comp, log=_quiet) is False
    assert seen[0] == "starting the facecomp worker...", seen
    title, controls = comp.dialogs[-1]
    assert title.endswith("error") and "facecomp worker exited" in controls[1]["Default"], controls[1]["Default"]
    assert len(comp.dialogs) == 1, "the settings dialog never opened"
