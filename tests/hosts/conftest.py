"""Fixtures of the host tests: a tiny face model, a linear EXR plate numbered 1001.., the facecomp command,
and the Nuke / Fusion test doubles (tests/hosts/doubles) with the real plugin code loaded into them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOUBLES = HERE / "doubles"
NUKE_PLUGIN = REPO / "nuke_plugin"
RESOLVE_PLUGIN = REPO / "resolve_plugin"
FRAMES = [1001, 1002, 1003, 1004, 1005]
WORKING_SPACE = "ACEScg"

for _p in (REPO, DOUBLES, NUKE_PLUGIN, RESOLVE_PLUGIN):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


def facecomp_exe() -> str:
    """The facecomp command of this checkout's environment (what FACECOMP_EXE points at in a studio)."""
    exe = Path(sys.executable).parent / "facecomp"
    return str(exe) if exe.is_file() else f"{sys.executable} -m engine"


def dfm_model(path: Path, res: int = 64) -> Path:
    """A tiny model in the DFM signature built with onnx.helper: the "swapped face" is the aligned face with
    its colours inverted, the masks are fixed soft ellipses (dst mask a little larger than the src mask)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    ys, xs = np.meshgrid(np.linspace(-1, 1, res), np.linspace(-1, 1, res), indexing="ij")

    def ellipse(rx: float, ry: float) -> np.ndarray:
        return (1 / (1 + np.exp(-(1 - (xs / rx) ** 2 - ((ys - 0.05) / ry) ** 2) * 12))).astype(np.float32)

    inits = [helper.make_tensor(name, TensorProto.FLOAT, [1, res, res, 1], ellipse(rx, ry).ravel())
             for name, rx, ry in (("dst_e", 0.62, 0.75), ("src_e", 0.55, 0.68))]
    inits += [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
              helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])]
    nodes = [helper.make_node("Sub", ["one", "in_face:0"], ["out_celeb_face:0"]),
             helper.make_node("ReduceMean", ["in_face:0"], ["mean"], axes=[3], keepdims=1),
             helper.make_node("Mul", ["mean", "zero"], ["zeros"]),
             helper.make_node("Add", ["zeros", "dst_e"], ["out_face_mask:0"]),
             helper.make_node("Add", ["zeros", "src_e"], ["out_celeb_face_mask:0"])]
    io = lambda name, c: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", res, res, c])  # noqa: E731
    graph = helper.make_graph(nodes, "tiny_dfm", [io("in_face:0", 3)],
                              [io("out_face_mask:0", 1), io("out_celeb_face:0", 3), io("out_celeb_face_mask:0", 1)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {"face_type": "whole_face", "resolution": str(res), "model": "tiny",
                       "color_space": "sRGB - Texture"}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def media(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny.onnx (a 64 px DFM model) and plate.1001-1005.exr: the first frames of dst_obama_speaking.mp4
    converted to ACEScg half-float EXR (a scene-linear plate as a compositor has it)."""
    from engine.media import color
    from engine.media.frames import open_frames
    from engine.media.image_io import to_float, write_exr
    root = tmp_path_factory.mktemp("host_media")
    model = dfm_model(root / "tiny.onnx", 64)
    for frame in open_frames(data / "video" / "dst_obama_speaking.mp4"):
        if frame.number > len(FRAMES):
            break
        bgr = color.convert(to_float(frame.image), "sRGB - Texture", WORKING_SPACE)
        ones = bgr[..., 0] * 0 + 1
        write_exr(root / f"plate.{1000 + frame.number}.exr", {"R": bgr[..., 2], "G": bgr[..., 1], "B": bgr[..., 0],
                                                               "A": ones})
    return {"root": root, "model": model, "plate": root / "plate.%04d.exr"}


@pytest.fixture
def nuke_session(media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh GUI session of the nuke double with nuke_plugin on NUKE_PATH (init.py and menu.py run)."""
    import nuke

    monkeypatch.setenv("FACECOMP_EXE", facecomp_exe())
    monkeypatch.setenv("FACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    nuke._reset(gui=True)
    nuke._set_format(512, 388)
    nuke.root()["first_frame"].setValue(FRAMES[0])
    nuke.root()["last_frame"].setValue(FRAMES[-1])
    nuke.root()["workingSpaceLUT"].setValue(WORKING_SPACE)
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke._startup([str(NUKE_PLUGIN)])
    yield nuke
    import facecomp_nuke

    for thread in list(facecomp_nuke._JOBS.values()):
        thread.join(30)
    nuke._process_events()
    facecomp_nuke._FAILED.clear()


@pytest.fixture(scope="session", autouse=True)
def _stop_workers():
    yield
    if "facecomp_nuke" in sys.modules:
        sys.modules["facecomp_nuke"].stop_all_workers()


def read_exr(path: str | os.PathLike[str]) -> dict[str, object]:
    """Channels of an EXR by name (OpenImageIO in the test, never in host code)."""
    import numpy as np
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    pixels = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float")).reshape(spec.height, spec.width, -1)
    fmt = str(spec.format)
    inp.close()
    out = {n: pixels[..., i] for i, n in enumerate(spec.channelnames)}
    out["__format__"] = fmt
    return out


@pytest.fixture(scope="session")
def saehd_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small SAEHD (liae-ud, res 64) built and exported by the engine, as `facecomp export` writes it."""
    import torch

    from engine.export.onnx import export_swap_model
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 64, "e_dims": 32, "d_dims": 32,
                                  "d_mask_dims": 16})
    return export_swap_model(model.eval(), tmp_path_factory.mktemp("saehd") / "saehd.onnx")
