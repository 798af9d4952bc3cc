"""``facecomp doctor``: what a farm admin checks on a new node, each check one line with ok / warn / FAIL / skip.

Versions of the runtime pieces, the ONNX Runtime execution providers that really run a model (a provider
compiled in may still fall back to the CPU when its libraries are missing), the face models prepared by
setup.sh, the executable the Nuke node and the Resolve script will start (``FACECOMP_EXE`` or ``facecomp`` on
PATH, the rule of ``nuke_plugin/facecomp_client.py``, reimplemented here because the engine never imports host
glue) and, given a model and a plate, a one-frame test render.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from engine import __version__

ENV_EXE = "FACECOMP_EXE"  # the variable the hosts read (nuke_plugin/facecomp_client.py, resolve_plugin)
STATUSES = ("ok", "warn", "FAIL", "skip")


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"[{self.status:>4}] {self.name}: {self.detail}"


def versions() -> list[Check]:
    """Python, facecomp and the libraries that compute (with torch's device)."""
    import cv2
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    checks = [Check("facecomp", "ok", f"{__version__} ({Path(__file__).resolve().parent})"),
              Check("python", "ok", f"{platform.python_version()} ({sys.executable}) on {platform.platform()}"),
              Check("numpy", "ok", np.__version__), Check("opencv", "ok", cv2.__version__),
              Check("onnx", "ok", onnx.__version__), Check("onnxruntime", "ok", ort.__version__)]
    if torch.cuda.is_available():
        device = f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "Apple MPS"
    else:
        device = "no GPU: training runs on the CPU"
    checks.append(Check("torch", "ok", f"{torch.__version__} ({device})"))
    checks.append(_colour())
    return checks


def _colour() -> Check:
    """OpenImageIO and the pinned OCIO config every plate conversion uses."""
    try:
        import OpenImageIO as oiio

        from engine.media import color

        spaces = len(color.color_spaces())
        scene_linear = color.resolve_name("scene_linear")
    except Exception as exc:  # noqa: BLE001 - a broken colour setup is a finding, not a crash
        return Check("colour", "FAIL", f"OCIO/OpenImageIO not usable: {str(exc)[:160]}")
    return Check("colour", "ok", f"OpenImageIO {oiio.__version__}, OCIO config {color.CONFIG_URI} ({spaces} spaces, "
                 f"scene_linear = {scene_linear})")


def _tiny_onnx() -> bytes:
    """A one-node ONNX model (Relu on a 1x8 float tensor) to open a session with each provider."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "doctor", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def providers() -> list[Check]:
    """Every execution provider compiled into onnxruntime, tried on a real session: does it really run?"""
    import numpy as np
    import onnxruntime as ort

    model = _tiny_onnx()
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    checks = []
    for name in ort.get_available_providers():
        if name == "AzureExecutionProvider":  # calls remote endpoints, never runs a face model here
            continue
        short = name.replace("ExecutionProvider", "")
        try:
            sess = ort.InferenceSession(model, sess_options=opts, providers=[name, "CPUExecutionProvider"])
            out = sess.run(["y"], {"x": np.linspace(-1, 1, 8, dtype=np.float32)[None]})[0]
        except Exception as exc:  # noqa: BLE001 - any provider failure is a finding, not a crash
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
            checks.append(Check(f"provider {short}", "warn", f"compiled in but fails: {first}"))
            continue
        used = sess.get_providers()[0]
        if used != name:
            checks.append(Check(f"provider {short}", "warn", f"compiled in but falls back to {used} "
                                "(its libraries are missing or the device is not usable)"))
        elif float(out.min()) < 0.0:
            checks.append(Check(f"provider {short}", "FAIL", "runs but computes wrong values"))
        else:
            checks.append(Check(f"provider {short}", "ok", "runs a model"))
    return checks


def face_models() -> list[Check]:
    """The face detector and landmark models setup.sh prepared (present, SHA-256 as recorded)."""
    from engine.errors import FacecompError
    from engine.faces.packaged_models import PACKAGED, model_path

    checks = []
    for name in PACKAGED:
        try:
            checks.append(Check(f"face model {name}", "ok", str(model_path(name))))
        except FacecompError as exc:
            checks.append(Check(f"face model {name}", "FAIL", str(exc)))
    return checks


def host_command(env: dict[str, str] | None = None) -> tuple[list[str] | None, str]:
    """The command the hosts start (FACECOMP_EXE, a path or a command line; else ``facecomp`` on PATH) and
    where it came from; None with the reason when there is none."""
    values: Mapping[str, str] = os.environ if env is None else env
    value = values.get(ENV_EXE, "").strip()
    if value:
        if os.path.isfile(value):
            return [value], ENV_EXE
        parts = shlex.split(value, posix=os.name != "nt")
        if parts and (os.path.isfile(parts[0]) or shutil.which(parts[0], path=values.get("PATH"))):
            return parts, ENV_EXE
        return None, f"{ENV_EXE}={value} names no executable"
    found = shutil.which("facecomp", path=values.get("PATH"))
    if found:
        return [found], "facecomp on PATH"
    return None, f"{ENV_EXE} is not set and facecomp is not on PATH"


def host_executable(env: dict[str, str] | None = None, timeout: float = 120.0) -> Check:
    """Which facecomp the Nuke node and the Resolve script will run, and whether it answers ``--version``."""
    cmd, origin = host_command(env)
    if cmd is None:
        return Check("hosts' facecomp", "FAIL", origin)
    shown = " ".join(cmd)
    try:
        r = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ if env is None else env))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("hosts' facecomp", "FAIL", f"{shown} ({origin}) does not start: {exc}")
    answer = (r.stdout.strip() or r.stderr.strip()).splitlines()[-1:] or ["no output"]
    if r.returncode != 0:
        return Check("hosts' facecomp", "FAIL", f"{shown} ({origin}) exits {r.returncode}: {answer[0][:160]}")
    if answer[0].strip() != f"facecomp {__version__}":
        return Check("hosts' facecomp", "warn", f"{shown} ({origin}) is {answer[0]!r}, this is {__version__}")
    return Check("hosts' facecomp", "ok", f"{shown} ({origin}), facecomp {__version__}")


def test_render(model: Path | None, plate: Path | None, frame: int | None = None,
                provider: str | None = None) -> Check:
    """Render one frame of ``plate`` with ``model`` into a temporary folder, as the hosts' worker does."""
    if model is None or plate is None:
        return Check("test render", "skip", "give --model MODEL --plate PLATE for a one-frame render")
    from engine.errors import FacecompError
    from engine.media.frames import open_frames
    from engine.swap.render import render_range

    try:
        numbers = list(open_frames(plate).numbers)
        if not numbers:
            raise FacecompError("no frames", plate)
        number = numbers[0] if frame is None else frame
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="facecomp_doctor_") as tmp:
            report = render_range(model, plate, [number], str(Path(tmp) / "doctor.%04d.exr"), provider=provider,
                                  face_select="all")
            size = report.outputs[0].stat().st_size if report.outputs else 0
    except FacecompError as exc:
        return Check("test render", "FAIL", str(exc))
    seconds = time.perf_counter() - start
    on = ", ".join(p.replace("ExecutionProvider", "") for p in report.providers)
    status = "ok" if size > 0 else "FAIL"
    return Check("test render", status, f"frame {number} of {plate}: {report.faces} face(s), {size} bytes of EXR, "
                 f"{seconds:.1f} s with model load, on {on}")


def run_checks(model: Path | None = None, plate: Path | None = None, frame: int | None = None,
               provider: str | None = None, host: bool = True) -> list[Check]:
    """Every check, in the order printed."""
    checks = [*versions(), *providers(), *face_models()]
    if host:
        checks.append(host_executable())
    checks.append(test_render(model, plate, frame, provider))
    return checks


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
