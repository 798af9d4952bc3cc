"""XSegApplier: masks from a trained XSeg model folder or its exported ONNX, for any aligned face.

Used by ``facecomp xseg apply`` and by the merger (XSeg-prd / XSeg-dst mask modes)::

    applier = XSegApplier("workspace/xseg")          # or XSegApplier("xseg.onnx")
    masks = applier.mask(faces)                       # NxHxWx3 (or HxWx3) BGR uint8/float -> NxHxW 0..1
    mask = applier.mask_face(img, meta)               # one faceset face; handles another face type (DFL re-warp)

Faces are resized to the model's resolution; masks come back at the input size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import FacecompError
from engine.faces.faceset import FaceMeta
from engine.faces.facetype import FaceType
from engine.media.image_io import to_float
from engine.xseg.data import face_to_model_mat

IN_NAME, OUT_NAME = "in_face:0", "out_mask:0"


class XSegApplier:
    """Runs XSeg on aligned faces with torch (model folder) or ONNX Runtime (``.onnx`` file)."""

    def __init__(self, source: str | os.PathLike[str], device: str | None = None,
                 providers: list[str] | str | None = None, bf16: bool = False, batch_size: int = 8):
        self.source = Path(source)
        self.batch_size = batch_size
        self.bf16 = bf16
        self.session: Any = None  # onnxruntime.InferenceSession of an .onnx model
        self.model: Any = None  # XSegNet of a model folder
        if self.source.suffix.lower() == ".onnx":
            self._init_onnx(providers)
        else:
            self._init_torch(device)

    def _init_torch(self, device: str | None) -> None:
        import torch

        from engine.xseg.checkpoint import load_model

        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, meta = load_model(self.source, map_location=str(dev))
        self.device = dev
        self.resolution = self.model.resolution
        self.face_type = FaceType.parse(meta.get("face_type", "whole_face"))
        self.iteration = int(meta.get("iteration", 0))
        self.session = None

    def _init_onnx(self, providers: list[str] | str | None) -> None:
        import onnxruntime as ort

        from engine.faces.runtime import resolve_providers

        if not self.source.is_file():
            raise FacecompError("no such ONNX file", self.source)
        try:
            self.session = ort.InferenceSession(str(self.source), providers=resolve_providers(providers))
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types; name the file
            raise FacecompError(f"cannot load ONNX model ({exc})", self.source) from None
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in ins] != [IN_NAME] or OUT_NAME not in [o.name for o in outs]:
            raise FacecompError(f"not an XSeg ONNX (needs input {IN_NAME} and output {OUT_NAME})", self.source)
        shape = ins[0].shape
        if len(shape) != 4 or not isinstance(shape[1], int) or shape[1] != shape[2] or shape[3] != 3:
            raise FacecompError(f"XSeg ONNX input must be [N,S,S,3], got {shape}", self.source)
        props = self.session.get_modelmeta().custom_metadata_map
        self.resolution = int(shape[1])
        self.face_type = FaceType.parse(props.get("face_type", "whole_face"))
        self.iteration = int(props.get("iteration", 0) or 0)
        self.model = None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """N x R x R x 3 float32 BGR 0..1 -> N x R x R masks."""
        if self.session is not None:
            return self.session.run([OUT_NAME], {IN_NAME: batch})[0][..., 0]
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            y = self.model.mask(x)
        return y.float()[:, 0].cpu().numpy()

    def mask(self, faces: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """Masks (0..1, float32) of square aligned faces of the model's face type, at each face's own size:
        HxW for one face, NxHxW for a batch (a list when the faces differ in size)."""
        single = isinstance(faces, np.ndarray) and faces.ndim == 3
        items = [faces] if single else list(faces)
        res = self.resolution
        prepared = []
        for f in items:
            f = to_float(np.asarray(f))
            if f.ndim != 3 or f.shape[2] != 3:
                raise FacecompError(f"XSeg needs HxWx3 BGR faces, got shape {f.shape}")
            if f.shape[:2] != (res, res):
                interp = cv2.INTER_AREA if f.shape[0] > res else cv2.INTER_LINEAR
                f = cv2.resize(f, (res, res), interpolation=interp)
            prepared.append(np.clip(f, 0, 1).astype(np.float32))
        out: list[np.ndarray] = []
        for i in range(0, len(prepared), self.batch_size):
            out.extend(self._run(np.stack(prepared[i:i + self.batch_size])))
        masks = []
        for f, m in zip(items, out, strict=True):
            h, w = np.asarray(f).shape[:2]
            m = np.clip(m, 0, 1).astype(np.float32)
            masks.append(m if (h, w) == (res, res) else cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR))
        if single:
            return masks[0]
        return np.stack(masks) if len({m.shape for m in masks}) <= 1 else masks

    def mask_face(self, image: np.ndarray, meta: FaceMeta) -> np.ndarray:
        """Mask of one faceset face at its size; a face of another type is re-warped to the model's type and back."""
        if meta.type == self.face_type:
            return np.asarray(self.mask(image))
        res = self.resolution
        mat = face_to_model_mat(meta, res, self.face_type)
        warped = cv2.warpAffine(to_float(image), mat, (res, res), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        m = self.mask(warped)
        size = int(meta.size)
        return cv2.warpAffine(m, mat, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT)


def finish_mask(mask: np.ndarray) -> np.ndarray:
    """DFL's post-processing of an applied mask: values < 0.1 -> 0, then binarised at 0.5 (uint8 0/255)."""
    m = np.where(mask < 0.1, 0.0, mask)
    return ((m >= 0.5) * 255).astype(np.uint8)
