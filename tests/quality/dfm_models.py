"""Hand-built DFM-signature ONNX models for the quality and robustness tests (onnx.helper: no torch, instant).

* ``identity``: the swapped face is the input face (a perfect "no-op" swap): identity, pose and shape of the
  swap equal the original's, so the report must measure ~no change.
* ``constant``: the swapped face is one fixed image (an aligned src face): the swap carries the src identity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def dfm_model(path: Path, resolution: int = 128, face: np.ndarray | None = None, meta: dict | None = None) -> Path:
    """Write a DFM model: output face = input (``face`` None) or the constant ``face`` (RxRx3 BGR 0..1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    r = resolution
    nodes = [
        helper.make_node("Slice", ["in_face:0", "s0", "s1", "s3"], ["chan0"]),
        helper.make_node("Mul", ["chan0", "zero"], ["zeros1"]),
        helper.make_node("Add", ["zeros1", "one"], ["out_face_mask:0"]),
        helper.make_node("Identity", ["out_face_mask:0"], ["out_celeb_face_mask:0"]),
    ]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "s0"),
             numpy_helper.from_array(np.array([1], np.int64), "s1"),
             numpy_helper.from_array(np.array([3], np.int64), "s3"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    if face is None:
        nodes.append(helper.make_node("Identity", ["in_face:0"], ["out_celeb_face:0"]))
    else:
        inits.append(numpy_helper.from_array(np.asarray(face, np.float32)[None], "const_face"))
        nodes += [helper.make_node("Mul", ["in_face:0", "zero"], ["zeros3"]),
                  helper.make_node("Add", ["zeros3", "const_face"], ["out_celeb_face:0"])]
    graph = helper.make_graph(
        nodes, "dfm_test",
        [helper.make_tensor_value_info("in_face:0", TensorProto.FLOAT, ["N", r, r, 3])],
        [helper.make_tensor_value_info("out_face_mask:0", TensorProto.FLOAT, ["N", r, r, 1]),
         helper.make_tensor_value_info("out_celeb_face:0", TensorProto.FLOAT, ["N", r, r, 3]),
         helper.make_tensor_value_info("out_celeb_face_mask:0", TensorProto.FLOAT, ["N", r, r, 1])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    props = {"face_type": "whole_face", "resolution": str(r), "model": "test", "color_space": "sRGB - Texture",
             "iteration": "0", **(meta or {})}
    for k, v in props.items():
        model.metadata_props.add(key=k, value=str(v))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def aligned_src_face(src_faces: Path, resolution: int) -> np.ndarray:
    """The first src face, resized to ``resolution``, as float BGR 0..1 (for the ``constant`` model)."""
    import cv2

    from engine.faces.faceset import list_faces, read_face

    img, _ = read_face(list_faces(src_faces)[0])
    return cv2.resize(img, (resolution, resolution), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


TINY_SAEHD = {"resolution": 64, "archi": "df-ud", "ae_dims": 32, "e_dims": 16, "d_dims": 16, "d_mask_dims": 16,
              "face_type": "wf"}


def tiny_saehd_folder(folder: Path, iteration: int, meta: dict | None = None):
    """A SAEHD df-ud model folder with tiny dims and random weights (engine.training.checkpoint); returns the
    model (for an export)."""
    import torch

    from engine.models import build_model, model_options
    from engine.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    options = {o.name: o.default for o in model_options("saehd")} | TINY_SAEHD
    model = build_model("saehd", options)
    save_checkpoint(folder, model, iteration, None, meta or {})
    return model
