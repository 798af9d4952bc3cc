"""The in-host self-tests (nuke_plugin/selftest.py, resolve_plugin/facecomp_selftest.py) run their checks against
the doubles: every step prints PASS, the exit code is 0, and a broken setup prints FAIL."""

from __future__ import annotations

import os
import subprocess
import sys

from hostkit import DOUBLES, FRAMES, NUKE_PLUGIN, WORKING_SPACE, facecomp_exe

NUKE_X = f"{sys.executable} {DOUBLES / 'nuke_x.py'}"


def _nuke_t(args, env_extra, tmp_path):
    env = dict(os.environ, NUKE_PATH=str(NUKE_PLUGIN), FACECOMP_EXE=facecomp_exe(), FACECOMP_SELFTEST_NUKE=NUKE_X)
    env.update(env_extra)
    return subprocess.run([sys.executable, str(DOUBLES / "nuke_x.py"), "-t", str(NUKE_PLUGIN / "selftest.py"), *args],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


def test_nuke_selftest_passes_in_the_double(media, tmp_path):
    r = _nuke_t(["--plate", str(media["plate"]), "--model", str(media["model"]), "--frames",
                 f"{FRAMES[0]}-{FRAMES[2]}", "--working-space", WORKING_SPACE], {}, tmp_path)
    lines = [line for line in r.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert r.returncode == 0 and lines and all(line.startswith("PASS") for line in lines), r.stdout + r.stderr[-2000:]
    assert any("farm frame equals the interactive frame" in line for line in lines)
    assert any("facemask where facecomp's own render puts it" in line for line in lines)


def test_nuke_selftest_reports_a_missing_facecomp(media, tmp_path):
    r = _nuke_t(["--plate", str(media["plate"]), "--model", str(media["model"])],
                {"FACECOMP_EXE": str(tmp_path / "nowhere")}, tmp_path)
    assert r.returncode == 1 and r.stdout.startswith("FAIL plugin, facecomp and worker found"), r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_fusion_selftest_passes_in_the_double(media, tmp_path, monkeypatch):
    import facecomp_selftest
    import fusionscript

    monkeypatch.setenv("FACECOMP_EXE", facecomp_exe())
    fusion = fusionscript._reset()
    comp = fusion._new_comp(0, 10, str(tmp_path / "selftest.comp"))
    comp.AddTool("MediaOut")
    lines: list[str] = []
    results = facecomp_selftest.run(comp, str(media["plate"]) % FRAMES[0], str(media["model"]), lines.append)
    assert results and all(results), "\n".join(lines)
    assert len([line for line in lines if line.startswith("PASS")]) == len(results) >= 12
    assert any(line.startswith("PASS progress shown per frame: in the FaceSwap window") for line in lines)


def test_fusion_selftest_reports_a_missing_facecomp(media, tmp_path, monkeypatch):
    import facecomp_selftest
    import fusionscript

    monkeypatch.setenv("FACECOMP_EXE", str(tmp_path / "nowhere"))
    comp = fusionscript._reset()._new_comp(0, 10, "")
    lines: list[str] = []
    assert facecomp_selftest.run(comp, str(media["plate"]) % FRAMES[0], str(media["model"]), lines.append) == [False]
    assert lines[0].startswith("FAIL host_kit, facecomp and worker found")
