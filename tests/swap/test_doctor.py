"""``facecomp doctor``: versions, providers that really run, the hosts' executable and a one-frame render."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO, run_facecomp


def _doctor(*args: object, exe: str | None) -> tuple[int, dict[str, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if k != "FACECOMP_EXE"}
    if exe is not None:
        env["FACECOMP_EXE"] = exe
    r = subprocess.run([sys.executable, "-m", "engine", "doctor", "--json", *map(str, args)], capture_output=True,
                       text=True, env=env, cwd=REPO, timeout=600)
    return r.returncode, {c["name"]: c for c in json.loads(r.stdout)}


def test_doctor_renders_a_frame_and_finds_the_hosts_executable(models, exr_plate):
    code, checks = _doctor("--model", models["tiny"], "--plate", exr_plate / "plate.####.exr", "--frame", 1003,
                           exe=f"{sys.executable} -m engine")
    assert code == 0, checks
    assert checks["provider CPU"]["status"] == "ok" and checks["onnxruntime"]["status"] == "ok"
    assert "scene_linear = ACEScg" in checks["colour"]["detail"]
    assert checks["hosts' facecomp"]["status"] == "ok" and "FACECOMP_EXE" in checks["hosts' facecomp"]["detail"]
    render = checks["test render"]
    assert render["status"] == "ok" and "frame 1003" in render["detail"] and "1 face(s)" in render["detail"]


def test_doctor_reports_a_wrong_executable_and_a_bad_model(tmp_path, exr_plate):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not onnx")
    code, checks = _doctor("--model", bad, "--plate", exr_plate / "plate.####.exr", exe=str(tmp_path / "nope"))
    assert code == 1
    assert checks["hosts' facecomp"]["status"] == "FAIL" and "nope" in checks["hosts' facecomp"]["detail"]
    assert checks["test render"]["status"] == "FAIL" and "model.onnx" in checks["test render"]["detail"]
    text = run_facecomp("doctor", "--no-host", check=False)
    assert "[skip] test render" in text.out and text.code == 0
