"""Export a SwapModel to one self-contained ONNX file with the DFM signature (engine/export/signature.py).

The graph takes NHWC BGR faces, transposes them to NCHW, runs ``SwapModel.swap`` (encoder, inters, decoders,
the swap routing and, for AMP, the morph slicing) and returns the three DFM outputs in NHWC. Opset 17 by
default, dynamic batch, weights inside the file. ``fp16=True`` stores the weights and the compute in float16
and keeps float32 inputs and outputs.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine import __version__
from engine.atomic import atomic_path
from engine.errors import FacecompError
from engine.export.signature import IN_FACE, MORPH_VALUE, OUTPUT_CHANNELS, OUTPUTS, check_dfm_signature
from engine.media.color import MODEL_SPACE
from engine.models.base import SwapModel
from engine.models.blocks import set_crd_mode
from engine.models.registry import spec

DEFAULT_OPSET = 17
MAX_PROTO_BYTES = 2**31 - 1  # protobuf's limit for one file without external data


class DFMGraph(nn.Module):
    """NHWC in, NHWC out around ``SwapModel.swap`` (what the ONNX file computes)."""

    def __init__(self, model: SwapModel):
        super().__init__()
        self.model = model

    def forward(self, in_face: torch.Tensor, morph_value: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = in_face.permute(0, 3, 1, 2)
        outs = self.model.swap(x, morph_value)
        return tuple(t.permute(0, 2, 3, 1) for t in outs)  # type: ignore[return-value]


@contextlib.contextmanager
def _export_mode(model: SwapModel) -> Iterator[SwapModel]:
    """float32 on the CPU, eval, Up layers in the pixel_shuffle path (one DepthToSpace op); restored afterwards."""
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in model.parameters()):
        model = copy.deepcopy(model).to("cpu", torch.float32)
    was_training = model.training
    model.eval()
    set_crd_mode(model, True)
    try:
        yield model
    finally:
        set_crd_mode(model, False)
        model.train(was_training)


def build_metadata(model: SwapModel, meta: dict[str, Any] | None = None) -> dict[str, str]:
    """metadata_props: facecomp.version, face_type, resolution, model, archi, iteration, color_space, landmarker,
    options (the model's DFL options as a JSON object) (from the model, overridden/extended by ``meta``, e.g.
    ``training_seconds``). Dict and list values are stored as JSON, the rest as text."""
    props: dict[str, Any] = {
        "facecomp.version": __version__,
        "face_type": model.face_type,
        "resolution": model.resolution,
        "model": model.kind,
        "archi": model.archi,
        "iteration": 0,
        "color_space": MODEL_SPACE,
        "landmarker": "unknown",
        "options": dict(getattr(model, "options", {}) or {}),
    }
    for key, value in (meta or {}).items():
        if value is not None:
            props[str(key)] = value
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v) for k, v in props.items()}


def _fix_output_shapes(graph: Any, resolution: int) -> None:
    """Give the outputs their real shapes [N, R, R, C] (the tracer leaves symbolic H/W)."""
    for out in graph.output:
        dims = out.type.tensor_type.shape.dim
        want = ["N", resolution, resolution, OUTPUT_CHANNELS[out.name]]
        while len(dims) < 4:
            dims.add()
        for d, v in zip(dims, want, strict=False):
            if isinstance(v, str):
                d.dim_param = v
            else:
                d.dim_value = v


def _morph_only_nodes(graph: Any) -> list[str]:
    """Nodes that depend on morph_value but not on in_face (kept float32 in an fp16 export)."""
    from_face, from_morph = {IN_FACE}, {MORPH_VALUE}
    names = []
    for node in graph.node:  # exported graphs are topologically sorted
        ins = set(node.input)
        if ins & from_face:
            from_face.update(node.output)
        elif ins & from_morph:
            from_morph.update(node.output)
            names.append(node.name)
    return names


def _sort_nodes(graph: Any) -> None:
    """Reorder graph nodes topologically (the fp16 converter appends its input casts at the end)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = [type(n)() for n in graph.node], []
    for copy_, node in zip(pending, graph.node, strict=True):
        copy_.CopyFrom(node)
    while pending:
        rest = []
        for node in pending:
            if all(i in known for i in node.input):
                ordered.append(node)
                known.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise FacecompError("exported graph has a cycle or a dangling input")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def to_fp16(model_proto: Any) -> Any:
    """float16 weights and compute, float32 I/O (onnxruntime.transformers.float16)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = convert_float_to_float16(model_proto, keep_io_types=True,
                                         node_block_list=_morph_only_nodes(model_proto.graph))
    _sort_nodes(proto.graph)
    return proto


def to_onnx_proto(model: SwapModel, meta: dict[str, Any] | None = None, fp16: bool = False,
                  opset: int = DEFAULT_OPSET) -> Any:
    """The DFM-signature ``onnx.ModelProto`` of ``model`` (not written anywhere)."""
    import onnx

    if opset < 17:
        raise FacecompError(f"opset {opset}: facecomp exports opset 17 or newer")
    res = model.resolution
    amp = spec(model.kind).morph_input  # the kind registers whether its DFM takes morph_value
    with _export_mode(model) as m:
        graph = DFMGraph(m)
        args: tuple[torch.Tensor, ...] = (torch.rand(1, res, res, 3),)
        names = [IN_FACE]
        if amp:
            args += (torch.tensor([0.5]),)
            names.append(MORPH_VALUE)
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, args, buf, dynamo=False, opset_version=opset, input_names=names,  # type: ignore[arg-type]
                              output_names=list(OUTPUTS), do_constant_folding=True,
                              dynamic_axes={n: {0: "N"} for n in (IN_FACE, *OUTPUTS)})
    proto = onnx.load_from_string(buf.getvalue())
    _fix_output_shapes(proto.graph, res)
    proto.producer_name = "facecomp"
    proto.producer_version = __version__
    proto.doc_string = f"facecomp {model.kind} {model.archi} {res}px face swap (DFM signature)"
    del proto.metadata_props[:]
    for key, value in build_metadata(model, meta).items():
        proto.metadata_props.add(key=key, value=value)
    if fp16:
        proto = to_fp16(proto)
    onnx.checker.check_model(proto)
    return proto


def export_swap_model(model: SwapModel, out_path: str | os.PathLike[str], meta: dict[str, Any] | None = None,
                      fp16: bool = False, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` as one ONNX file (``.onnx`` or ``.dfm``, same content) atomically; returns the path."""
    out = Path(out_path)
    if out.suffix.lower() not in (".onnx", ".dfm"):
        raise FacecompError("export writes .onnx or .dfm files", out)
    proto = to_onnx_proto(model, meta, fp16, opset)
    data = proto.SerializeToString()
    if len(data) > MAX_PROTO_BYTES:
        raise FacecompError(f"model is {len(data) / 2**30:.1f} GiB, over ONNX's 2 GiB single-file limit", out)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    check_dfm_signature(out)
    return out


def verify_export(model: SwapModel, onnx_path: str | os.PathLike[str], batch: int = 2, seed: int = 0,
                  morph_value: float = 0.75) -> float:
    """Max abs difference between ONNX Runtime (CPU) and torch eager on random faces (all three outputs)."""
    import onnxruntime as ort

    sig = check_dfm_signature(onnx_path)
    rng = np.random.default_rng(seed)
    faces = rng.random((batch, model.resolution, model.resolution, 3), dtype=np.float32)
    feed = {sig.in_face: faces}
    if sig.morph_value:
        feed[sig.morph_value] = np.array([morph_value], np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(list(sig.outputs), feed)
    with _export_mode(model) as m, torch.no_grad():
        want = DFMGraph(m)(torch.from_numpy(faces), torch.tensor([morph_value]) if sig.morph_value else None)
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))
