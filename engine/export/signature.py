"""The DFM signature (DeepFaceLab's .dfm / DeepFaceLive's layout) and a validator for ONNX files.

- input ``in_face:0`` float32 [N, H, W, 3], BGR 0..1, the aligned dst face (DeepFaceLive: first input whose
  name contains ``in_face``; resolution from its shape, else from the ``resolution`` metadata)
- input ``morph_value:0`` float32 [1], AMP only
- outputs ``out_face_mask:0`` [N,H,W,1], ``out_celeb_face:0`` [N,H,W,3], ``out_celeb_face_mask:0`` [N,H,W,1]
Tensor names match with or without the ``:0`` suffix (tf2onnx keeps it, other exporters may not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import FacecompError

IN_FACE = "in_face:0"
MORPH_VALUE = "morph_value:0"
OUT_FACE_MASK = "out_face_mask:0"
OUT_CELEB_FACE = "out_celeb_face:0"
OUT_CELEB_FACE_MASK = "out_celeb_face_mask:0"
OUTPUTS = (OUT_FACE_MASK, OUT_CELEB_FACE, OUT_CELEB_FACE_MASK)
OUTPUT_CHANNELS = {OUT_FACE_MASK: 1, OUT_CELEB_FACE: 3, OUT_CELEB_FACE_MASK: 1}

# metadata_props we write (DESIGN.md "The exported model")
METADATA_KEYS = ("facecomp.version", "face_type", "resolution", "model", "archi", "iteration", "color_space",
                 "landmarker")

_FLOAT_TYPES = {1: "float32", 10: "float16"}


@dataclass
class SignatureInfo:
    """What a DFM-compatible ONNX file offers: tensor names, resolution, metadata."""

    path: str | None
    in_face: str
    morph_value: str | None
    outputs: tuple[str, str, str]  # (out_face_mask, out_celeb_face, out_celeb_face_mask) as named in the file
    resolution: int | None
    input_dtype: str
    dynamic_batch: bool
    opset: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def is_amp(self) -> bool:
        return self.morph_value is not None


def _stem(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def _find(names: list[str], wanted: str) -> str | None:
    for n in names:
        if _stem(n) == _stem(wanted):
            return n
    return None


def _dims(value_info: Any) -> list[int | str | None]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def load_onnx(path: str | os.PathLike[str]) -> Any:
    """Parse an ONNX file without its external data; FacecompError naming the file if it is not ONNX."""
    import onnx
    from google.protobuf.message import DecodeError

    p = Path(path)
    if not p.is_file():
        raise FacecompError("no such model file", p)
    if p.stat().st_size == 0:
        raise FacecompError("not an ONNX model (empty file)", p)
    try:
        model = onnx.load(str(p), format="protobuf", load_external_data=False)  # never by suffix (.json)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise FacecompError(f"not an ONNX model ({type(exc).__name__})", p) from None
    if not model.graph.node or not model.graph.input:
        raise FacecompError("not an ONNX model (no graph)", p)
    return model


def check_dfm_signature(model_or_path: Any) -> SignatureInfo:
    """Check an ONNX model (``onnx.ModelProto`` or a path) against the DFM layout.

    Raises FacecompError naming the file and the first problem ("not an ONNX model", "input in_face:0
    missing", "output out_celeb_face:0 missing", a wrong shape or type).
    """
    if isinstance(model_or_path, str | os.PathLike):
        where: str | None = os.fspath(model_or_path)
        model = load_onnx(model_or_path)
    else:
        where, model = None, model_or_path
        if not hasattr(model, "graph"):
            raise FacecompError("not an ONNX model")
    graph = model.graph
    weights = {i.name for i in graph.initializer}
    inputs = {i.name: i for i in graph.input if i.name not in weights}
    outputs = {o.name: o for o in graph.output}
    in_face = next((n for n in inputs if "in_face" in n), None)
    if in_face is None:
        raise FacecompError(f"input {IN_FACE} missing (inputs: {', '.join(inputs) or 'none'})", where)
    dtype = _FLOAT_TYPES.get(inputs[in_face].type.tensor_type.elem_type)
    if dtype is None:
        raise FacecompError(f"input {in_face} must be float32", where)
    shape = _dims(inputs[in_face])
    if len(shape) != 4 or isinstance(shape[3], int) and shape[3] != 3:
        raise FacecompError(f"input {in_face} has shape {shape}, expected [N, H, W, 3] (NHWC BGR)", where)
    h, w = shape[1], shape[2]
    metadata = {p.key: p.value for p in model.metadata_props}
    resolution = h if isinstance(h, int) and h > 0 else None
    if resolution is not None and w != h:
        raise FacecompError(f"input {in_face} is not square ({h}x{w})", where)
    if resolution is None and metadata.get("resolution", "").isdigit():
        resolution = int(metadata["resolution"])
    morph = next((n for n in inputs if "morph_value" in n), None)
    extra = [n for n in inputs if n not in (in_face, morph)]
    if extra:
        raise FacecompError(f"unexpected input(s) {', '.join(extra)} for a DFM model", where)
    found = []
    for want in OUTPUTS:
        name = _find(list(outputs), want)
        if name is None:
            raise FacecompError(f"output {want} missing (outputs: {', '.join(outputs) or 'none'})", where)
        dims = _dims(outputs[name])
        if len(dims) == 4 and isinstance(dims[3], int) and dims[3] not in (0, OUTPUT_CHANNELS[want]):
            raise FacecompError(f"output {name} has {dims[3]} channels, expected {OUTPUT_CHANNELS[want]}", where)
        found.append(name)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return SignatureInfo(path=where, in_face=in_face, morph_value=morph, outputs=(found[0], found[1], found[2]),
                         resolution=resolution, input_dtype=dtype, dynamic_batch=not isinstance(shape[0], int) or
                         shape[0] <= 0, opset=opset, metadata=metadata)
