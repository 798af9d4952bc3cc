"""The one ONNX Runtime wrapper every swap caller uses: provider choice, DFM signature check, metadata, batching.

A face model is an ONNX file in DeepFaceLive's DFM layout (DESIGN.md "The exported model"): input
``in_face:0`` float32 [N,H,W,3] BGR 0..1, optional ``morph_value:0`` float32 [1] (AMP), outputs
``out_face_mask:0``, ``out_celeb_face:0``, ``out_celeb_face_mask:0`` (NHWC). Our exports carry
``metadata_props`` (face_type, resolution, model, color_space ...); a DeepFaceLab ``.dfm`` has none, so the
resolution comes from the input shape and the face type from the caller (default whole_face), logged.

ONNX Runtime silently falls back to the CPU when a GPU provider cannot load (deps.md §2), so the providers
actually in use are read back from the session (``FaceSwapModel.providers``) and a fallback is logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacecompError
from engine.export.model_path import resolve_model_path
from engine.export.signature import check_dfm_signature
from engine.faces.facetype import FaceType
from engine.media.color import MODEL_SPACE

log = logging.getLogger("facecomp")

# user-facing name -> ONNX Runtime provider, in order of preference
PROVIDERS: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
PROVIDER_CHOICES = ("auto", *PROVIDERS)
MAX_MODEL_BYTES = 4 << 30
DEFAULT_BATCH = 8


def choose_providers(preference: str | None = None) -> list[str]:
    """ORT provider names to ask for, best first, always ending with the CPU.

    ``None``/``"auto"``: every compiled-in provider in the order TensorRT, CUDA, DirectML, CoreML, CPU.
    A name (``"cuda"``): that provider then the CPU; one not compiled into this onnxruntime is logged and
    skipped (the CPU package has no GPU providers; ``onnxruntime-gpu`` is the alternative install).
    """
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        return [p for p in PROVIDERS.values() if p in available] or [PROVIDERS["cpu"]]
    if pref not in PROVIDERS:
        raise FacecompError(f"unknown execution provider {preference!r}; use one of {', '.join(PROVIDER_CHOICES)}")
    wanted = PROVIDERS[pref]
    if wanted not in available:
        log.warning("execution provider %s is not in this onnxruntime build (has %s); using the CPU",
                    pref, ", ".join(sorted(available)))
        return [PROVIDERS["cpu"]]
    return [wanted] if wanted == PROVIDERS["cpu"] else [wanted, PROVIDERS["cpu"]]


def _threads(default: int | None) -> int:
    env = os.environ.get("FACECOMP_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return default or 0  # 0 = ORT's choice (all cores)


def open_session(path: str | os.PathLike[str], preference: str | None = None, threads: int | None = None,
                 what: str = "model") -> tuple[Any, list[str]]:
    """An ``ort.InferenceSession`` for ``path`` and the providers it really uses.

    Any file ONNX Runtime cannot parse is one FacecompError naming the file; a fallback from the
    requested provider to another is logged as a warning.
    """
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise FacecompError(f"no such {what} file", p)
    size = p.stat().st_size
    if size == 0:
        raise FacecompError(f"empty {what} file (0 bytes)", p)
    if size > MAX_MODEL_BYTES:
        raise FacecompError(f"{what} file larger than 4 GiB", p)
    wanted = choose_providers(preference)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = _threads(threads)
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(str(p), sess_options=opts, providers=wanted)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own types; report one line naming the file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "INVALID_PROTOBUF" in text or "Protobuf parsing failed" in text or "INVALID_GRAPH" in text:
            raise FacecompError(f"not an ONNX {what} (ONNX Runtime cannot parse it)", p) from None
        raise FacecompError(f"ONNX Runtime cannot load this {what}: {text[:200]}", p) from None
    used = list(sess.get_providers())
    if used[0] != wanted[0]:
        log.warning("%s: asked for %s, ONNX Runtime runs on %s", p.name, wanted[0], ", ".join(used))
    return sess, used


class FaceSwapModel:
    """An exported face model (``.onnx``/``.dfm``) loaded once in ONNX Runtime.

    ``run(faces)`` takes aligned faces as float32 [N, res, res, 3] BGR 0..1 and returns
    ``(dst_mask, celeb_face, celeb_mask)`` as float32 NHWC arrays clipped to 0..1. Safe to call from
    several threads (ORT sessions are thread-safe).
    """

    def __init__(self, path: str | os.PathLike[str], provider: str | None = None, face_type: str | None = None,
                 threads: int | None = None, max_batch: int = DEFAULT_BATCH):
        self.path = resolve_model_path(path)  # a training folder or its model.json: the fix, or its export
        sig = check_dfm_signature(self.path)  # one clear error for a non-ONNX file or another signature
        self.session, self.providers = open_session(self.path, provider, threads, what="model")
        self._in, self._morph, self._outs = sig.in_face, sig.morph_value, list(sig.outputs)
        meta = dict(self.session.get_modelmeta().custom_metadata_map or {})
        self.metadata: dict[str, str] = meta
        self.resolution = self._resolution(meta, sig.resolution)
        self.face_type = self._face_type(meta, face_type)
        self.color_space = meta.get("color_space") or MODEL_SPACE
        self.kind = meta.get("model", "dfm")
        self.is_morphable = sig.is_amp
        self.max_batch = max(1, max_batch) if sig.dynamic_batch else 1
        self._fp16 = sig.input_dtype == "float16"
        log.debug("%s: %s %dpx %s, providers %s", self.path.name, self.kind, self.resolution, self.face_type.label,
                  ", ".join(self.providers))

    def _resolution(self, meta: dict[str, str], from_shape: int | None) -> int:
        value = meta.get("resolution")
        if value is not None:
            try:
                res = int(value)
            except ValueError:
                raise FacecompError(f"metadata resolution {value!r} is not a number", self.path) from None
            if from_shape is not None and from_shape != res:
                raise FacecompError(f"metadata says resolution {res} but the input is {from_shape}px", self.path)
            return res
        if from_shape is None:
            raise FacecompError("input size is dynamic and the file has no 'resolution' metadata", self.path)
        return from_shape

    def _face_type(self, meta: dict[str, str], requested: str | None) -> FaceType:
        stored = meta.get("face_type")
        if requested:
            ft = FaceType.parse(requested)
            if stored and FaceType.parse(stored) != ft:
                log.warning("%s: trained on %s faces, aligning as %s as asked", self.path.name,
                            FaceType.parse(stored).label, ft.label)
            return ft
        if stored:
            return FaceType.parse(stored)
        log.info("%s: no face_type metadata (a DeepFaceLab .dfm?); aligning as whole_face (set --face-type)",
                 self.path.name)
        return FaceType.WHOLE_FACE

    @property
    def fingerprint(self) -> str:
        """Changes whenever the model file changes (size, mtime, iteration): merge resume recomputes then."""
        st = self.path.stat()
        return f"{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{self.metadata.get('iteration', '')}"

    def run(self, faces: np.ndarray, morph: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Swap a batch of aligned faces (float32 [N, res, res, 3] BGR 0..1), in chunks of ``max_batch``."""
        faces = np.asarray(faces, np.float32)
        if faces.ndim == 3:
            faces = faces[None]
        n, h, w, c = faces.shape
        if (h, w, c) != (self.resolution, self.resolution, 3):
            raise FacecompError(f"faces must be {self.resolution}x{self.resolution}x3, got {h}x{w}x{c}", self.path)
        outs: list[list[np.ndarray]] = [[], [], []]
        for start in range(0, n, self.max_batch):
            chunk = faces[start: start + self.max_batch]
            feed = {self._in: chunk.astype(np.float16) if self._fp16 else chunk}
            if self._morph is not None:
                value = 1.0 if morph is None else float(morph)
                feed[self._morph] = np.array([value], np.float16 if self._fp16 else np.float32)
            result = self.session.run(self._outs, feed)
            for acc, arr in zip(outs, result, strict=True):
                acc.append(self._nhwc(np.asarray(arr, np.float32), len(chunk)))
        dst_mask, face, src_mask = (np.clip(np.concatenate(a), 0.0, 1.0) for a in outs)
        return dst_mask, face, src_mask

    def _nhwc(self, arr: np.ndarray, n: int) -> np.ndarray:
        if arr.ndim == 3:
            arr = arr[..., None]
        if arr.ndim != 4 or arr.shape[0] != n:
            raise FacecompError(f"model output has shape {arr.shape}, expected [N, H, W, C]", self.path)
        if arr.shape[-1] not in (1, 3) and arr.shape[1] in (1, 3):
            arr = arr.transpose(0, 2, 3, 1)
        if arr.shape[1:3] != (self.resolution, self.resolution):
            raise FacecompError(f"model output is {arr.shape[1]}x{arr.shape[2]}, expected {self.resolution}px",
                                self.path)
        return arr

    def describe(self) -> str:
        """One line for logs: file, kind, resolution, face type and the providers in use."""
        return (f"{self.path.name}: {self.kind} {self.resolution}px {self.face_type.label}, "
                f"running on {', '.join(p.replace('ExecutionProvider', '') for p in self.providers)}")
