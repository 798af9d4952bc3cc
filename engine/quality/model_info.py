"""What a report says about a model: ONNX ``metadata_props`` plus the trained folder's model.json.

model.json (options, iteration, training time) is taken from ``--model-dir`` when given, else from the folder
the .onnx sits in when that folder is a facecomp model (``facecomp export`` writes ``model/model.onnx`` by
default), else the report shows only what the ONNX file carries.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine.errors import FacecompError

MAX_JSON_BYTES = 4 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_folder_for(onnx_path: str | os.PathLike[str], model_dir: str | os.PathLike[str] | None) -> Path | None:
    """The trained model folder that belongs to a report: ``model_dir``, or the .onnx's own folder when it
    holds a model.json."""
    if model_dir is not None:
        d = Path(model_dir)
        if not (d / "model.json").is_file():
            raise FacecompError("not a facecomp model folder (model.json missing)", d)
        return d
    beside = Path(onnx_path).resolve().parent
    return beside if (beside / "model.json").is_file() else None


def read_training_info(folder: Path) -> dict[str, Any]:
    """Kind, options, iteration and training time from model.json (validated as the trainer reads it)."""
    from engine.training.checkpoint import read_model_json

    data = read_model_json(folder)
    seconds = data.get("training_seconds")
    return {
        "folder": str(folder),
        "kind": data.get("kind"),
        "iteration": data.get("iteration"),
        "training_seconds": seconds,
        "training_hours": round(float(seconds) / 3600.0, 3) if isinstance(seconds, int | float) else None,
        "options": data.get("options") if isinstance(data.get("options"), dict) else {},
        "created": data.get("created"),
        "updated": data.get("updated"),
        "training": data.get("training") if isinstance(data.get("training"), dict) else {},
        "facecomp_version": data.get("facecomp_version"),
    }


def model_info(onnx_path: str | os.PathLike[str], metadata: dict[str, str], folder: Path | None) -> dict[str, Any]:
    """The report's "model" section: file, size, sha256, metadata_props and (when known) model.json data."""
    p = Path(onnx_path)
    info: dict[str, Any] = {
        "file": str(p),
        "bytes": p.stat().st_size,
        "sha256": _sha256(p),
        "metadata": dict(sorted(metadata.items())),
        "kind": metadata.get("model"),
        "iteration": _int(metadata.get("iteration")),
        "resolution": _int(metadata.get("resolution")),
        "face_type": metadata.get("face_type"),
        "training_seconds": _float(metadata.get("training_seconds")),
        "options": _options(metadata.get("options")),
        "model_folder": None,
    }
    if folder is not None:
        training = read_training_info(folder)
        info["model_folder"] = training
        for key in ("kind", "iteration", "training_seconds"):
            if training.get(key) is not None:
                info[key] = training[key]
        if training["options"]:
            info["options"] = training["options"]
    seconds = info["training_seconds"]
    info["training_hours"] = round(seconds / 3600.0, 3) if isinstance(seconds, int | float) else None
    return info


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _options(value: str | None) -> dict[str, Any]:
    """Options stored in the ONNX metadata as JSON (when the exporter writes them)."""
    if not value or len(value) > MAX_JSON_BYTES:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
