"""Shared pieces of the host tests (paths, the facecomp command, a tiny DFM model, reading EXRs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
    """The facecomp command of this checkout (what FACECOMP_EXE points at in a studio). Not the environment's
    ``facecomp`` script: that may run another checkout's engine."""
    return f"{sys.executable} {HERE / 'facecomp_here.py'}"


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


def read_exr(path: str | os.PathLike[str]) -> dict[str, object]:
    """Channels of an EXR (every part) by name over the display window (zero outside the data window), and in
    ``__format__`` the pixel type of its first part, the image passes (Cryptomatte ids and the STMap are 32-bit
    in a second part). OpenImageIO in the test, never in host code."""
    import OpenImageIO as oiio

    from engine.media.image_io import read_exr_layers

    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    fmt = str(inp.spec().format)
    inp.close()
    out: dict[str, object] = dict(read_exr_layers(path)[0])
    out["__format__"] = fmt
    return out


def faceswap_on_plate(nuke, media, graded=False, **knobs):
    """A Read of the test plate (through a Grade x0.5 when ``graded``: a processed input the worker cannot read)
    feeding a new FaceSwap node with the tiny model and ``knobs`` set: (read, node)."""
    read = nuke.nodes.Read(file=str(media["plate"]).replace("%04d", "####"), first=FRAMES[0], last=FRAMES[-1])
    source = read
    if graded:
        source = nuke.nodes.Grade(multiply=0.5)
        source.setInput(0, read)
    node = nuke.createNode("FaceSwap")
    node.setInput(0, source)
    node["model_file"].setValue(str(media["model"]))
    for name, value in knobs.items():
        node[name].setValue(value)
    return read, node
