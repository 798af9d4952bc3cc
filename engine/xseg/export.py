"""Export an XSeg model folder to one ONNX file for the hosts and the merger.

Signature (DFL's XSeg export, NHWC): input ``in_face:0`` float32 [N, R, R, 3] BGR 0..1, output ``out_mask:0``
float32 [N, R, R, 1] (sigmoid, 0..1); opset 17, dynamic batch, weights inside the single file.
metadata_props: facecomp.version, model=xseg, face_type, resolution, iteration.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from engine import __version__, atomic
from engine.errors import FacecompError
from engine.xseg.apply import IN_NAME, OUT_NAME
from engine.xseg.checkpoint import load_model
from engine.xseg.model import XSegNet

OPSET = 17


class _NHWC(nn.Module):
    def __init__(self, net: XSegNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)


def export_onnx(model_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write ``out`` (.onnx) from the XSeg model in ``model_dir``; returns the path."""
    import onnx

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise FacecompError("XSeg export writes an .onnx file", out)
    model, meta = load_model(model_dir)
    res = model.resolution
    wrapper = _NHWC(model).eval()
    dummy = torch.rand(1, res, res, 3)
    with atomic.atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's constant-folding notes
        torch.onnx.export(wrapper, (dummy,), str(tmp), input_names=[IN_NAME], output_names=[OUT_NAME],
                          dynamic_axes={IN_NAME: {0: "batch"}, OUT_NAME: {0: "batch"}}, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
        proto = onnx.load(str(tmp))
        props = {"facecomp.version": __version__, "model": "xseg",
                 "face_type": str(meta.get("face_type", "whole_face")), "resolution": str(res),
                 "iteration": str(int(meta.get("iteration", 0)))}
        del proto.metadata_props[:]
        for key, value in props.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return out
