"""ONNX Runtime sessions for the face models: provider choice and a small per-process cache."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from engine.errors import FacecompError

_ALIASES = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "directml": ["DmlExecutionProvider", "CPUExecutionProvider"],
    "coreml": ["CoreMLExecutionProvider", "CPUExecutionProvider"],
}


def resolve_providers(providers: list[str] | str | None) -> list[str]:
    """ORT provider names from None/"auto" (GPU when compiled in, else CPU), an alias or explicit names."""
    import onnxruntime as ort

    if providers is None or providers == "auto" or providers == ["auto"]:
        available = ort.get_available_providers()
        return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    if isinstance(providers, str):
        providers = [providers]
    out: list[str] = []
    for p in providers:
        for name in _ALIASES.get(p.lower(), [p]):
            if name not in out:
                out.append(name)
    return out


def _threads() -> int:
    env = os.environ.get("FACECOMP_THREADS")
    if env and env.isdigit():
        return int(env)
    return 1  # the face models are tiny: one thread each is fastest, also on a busy machine


@functools.lru_cache(maxsize=16)
def _session(path: str, providers: tuple[str, ...], threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=list(providers))
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types; name the file
        raise FacecompError(f"cannot load face model ({exc})", path) from None


def session(path: str | os.PathLike[str] | Path, providers: list[str] | str | None = None):
    """A cached ORT InferenceSession for ``path`` (same file and providers -> same session)."""
    return _session(str(path), tuple(resolve_providers(providers)), _threads())
