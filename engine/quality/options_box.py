"""DeepFaceLab's model summary box for a facecomp model: what ``facecomp model info`` and the start of
``facecomp train`` print (kind, archi, dims, resolution, face type, iteration, training time, loss, schedule).

The facts come from a training folder's model.json, or from an exported ``.onnx``/``.dfm``'s metadata (which
carries the same options); :func:`model_facts` reads either, :func:`options_box` draws them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from engine.errors import FacecompError

# options shown first, in DFL's order; the rest follow alphabetically
HEAD_OPTIONS = ("resolution", "face_type", "archi", "ae_dims", "inter_dims", "e_dims", "d_dims", "d_mask_dims",
                "batch_size", "target_iter")
SCHEDULE_FILES = ("schedule.json", "schedule.toml")
WIDTH = 60


def _schedule(folder: Path | None) -> str | None:
    """The schedule file beside the model, when one exists (its phase when it states one)."""
    if folder is None:
        return None
    for name in SCHEDULE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if path.suffix == ".json" and path.stat().st_size < (1 << 20):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                return f"{name} (unreadable)"
            phase = data.get("phase") or data.get("current_phase") if isinstance(data, dict) else None
            if phase:
                return f"{phase} ({name})"
        return name
    return None


def _from_folder(folder: Path) -> dict[str, Any]:
    from engine.quality.model_info import read_training_info

    info = read_training_info(folder)
    data = _model_json_loss(folder)
    return {"source": str(folder), "kind": info["kind"], "iteration": info["iteration"],
            "training_seconds": info["training_seconds"], "options": info["options"], "loss": data,
            "schedule": _schedule(folder), "exported": None}


def _model_json_loss(folder: Path) -> dict[str, float]:
    from engine.training.checkpoint import read_model_json

    loss = read_model_json(folder).get("loss")
    return {k: float(v) for k, v in loss.items() if isinstance(v, int | float)} if isinstance(loss, dict) else {}


def _from_export(path: Path) -> dict[str, Any]:
    from engine.export.signature import check_dfm_signature
    from engine.quality.model_info import model_folder_for, model_info

    sig = check_dfm_signature(path)
    folder = model_folder_for(path, None)
    info = model_info(path, sig.metadata, None)
    options = dict(info["options"])
    for key in ("resolution", "face_type"):
        if info.get(key) is not None:
            options.setdefault(key, info[key])
    if "resolution" not in options and sig.resolution:
        options["resolution"] = sig.resolution  # a DFL .dfm: only its input shape tells
    if sig.metadata.get("archi"):
        options.setdefault("archi", sig.metadata["archi"])
    return {"source": str(path), "kind": info["kind"] or "dfm", "iteration": info["iteration"],
            "training_seconds": info["training_seconds"], "options": options,
            "loss": _model_json_loss(folder) if folder else {}, "schedule": _schedule(folder),
            "exported": {"bytes": info["bytes"], "input": "float16" if sig.input_dtype == "float16" else "float32",
                         "morph": sig.is_amp}}


def model_facts(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What the box shows, from a training folder (model.json) or an exported .onnx/.dfm file."""
    p = Path(path)
    if p.is_dir():
        return _from_folder(p)
    if p.name == "model.json" and p.is_file():
        return _from_folder(p.parent)
    if not p.exists():
        raise FacecompError("no such model folder or file", p)
    return _from_export(p)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(seconds)
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"


def _row(key: str, value: object) -> str:
    text = f"{key:>22}: {value}"
    return f"== {text:<{WIDTH - 6}} =="


def _rule(title: str) -> str:
    return f"=={(' ' + title + ' ') if title else '':-^{WIDTH - 4}}=="


def options_box(facts: dict[str, Any]) -> str:
    """The facts as DFL's framed summary (60 columns)."""
    options = facts.get("options") or {}
    lines = ["=" * WIDTH, _rule("Model Summary"), _row("model", facts.get("source", "")),
             _row("kind", facts.get("kind") or "unknown"),
             _row("iteration", facts.get("iteration") if facts.get("iteration") is not None else "unknown"),
             _row("training time", _duration(facts.get("training_seconds")))]
    loss = facts.get("loss") or {}
    if loss:
        lines.append(_row("loss (last 100)", " / ".join(f"{k} {v:.4f}" for k, v in sorted(loss.items()))))
    if facts.get("schedule"):
        lines.append(_row("schedule", facts["schedule"]))
    exported = facts.get("exported")
    if exported:
        lines.append(_row("export", f"{exported['bytes'] / 2**20:.1f} MiB, {exported['input']} input"
                          f"{', morphable (AMP)' if exported['morph'] else ''}"))
    lines.append(_rule("Model Options"))
    head = [k for k in HEAD_OPTIONS if k in options]
    for key in head + sorted(k for k in options if k not in HEAD_OPTIONS):
        value = options[key]
        lines.append(_row(key, json.dumps(value) if isinstance(value, dict | list) else value))
    lines.append("=" * WIDTH)
    return "\n".join(lines)


def training_facts(folder: Path, kind: str, options: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The box's facts at the start of a training run (options as this run resolved them)."""
    stored = stored or {}
    loss = stored.get("loss")
    return {"source": str(folder), "kind": kind, "iteration": stored.get("iteration", 0),
            "training_seconds": stored.get("training_seconds", 0.0), "options": options,
            "loss": {k: float(v) for k, v in loss.items() if isinstance(v, int | float)} if isinstance(loss, dict)
            else {}, "schedule": _schedule(folder), "exported": None}
