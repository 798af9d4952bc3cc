"""Export a trained model folder (engine.training.checkpoint) to a DFM-signature ONNX file, with its metadata."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import FacecompError
from engine.export.onnx import DEFAULT_OPSET, export_swap_model, verify_export

log = logging.getLogger("facecomp")

# an export whose ONNX outputs differ more than this from torch is refused (fp32 agrees to ~1e-6)
MAX_DIFF = {False: 1e-4, True: 5e-3}


@dataclass
class ExportReport:
    path: Path
    kind: str
    archi: str
    resolution: int
    iteration: int
    bytes: int
    max_abs_diff: float | None


def training_landmarker(meta: dict[str, Any]) -> str | None:
    """The landmarker named in the training faceset's metadata (first dst, then src face), if any."""
    if meta.get("landmarker"):
        return str(meta["landmarker"])
    training = meta.get("training")
    if not isinstance(training, dict):
        return None
    from engine.faces.faceset import list_faces, read_meta

    for side in ("dst", "src"):
        folder = training.get(side)
        if not isinstance(folder, str) or not Path(folder).is_dir():
            continue
        with contextlib.suppress(FacecompError, OSError):
            for face in list_faces(folder)[:1]:
                name = read_meta(face).landmarker
                if name:
                    return name
    return None


def default_export_path(model_dir: str | os.PathLike[str], fp16: bool = False) -> Path:
    """``<model>/model.onnx`` (``model_fp16.onnx`` with fp16), beside the checkpoint as DESIGN.md's workspace has it."""
    return Path(model_dir) / ("model_fp16.onnx" if fp16 else "model.onnx")


def export_model_folder(model_dir: str | os.PathLike[str], out_path: str | os.PathLike[str] | None = None,
                        fp16: bool = False, opset: int = DEFAULT_OPSET, verify: bool = True,
                        landmarker: str | None = None) -> ExportReport:
    """Load a model folder, export it, and (``verify``) compare ONNX Runtime with torch on random faces."""
    from engine.training.checkpoint import load_model

    model, meta = load_model(model_dir)
    out = Path(out_path) if out_path is not None else default_export_path(model_dir, fp16)
    options, seconds = meta.get("options"), meta.get("training_seconds")
    props = {"iteration": int(meta.get("iteration", 0)),
             "landmarker": landmarker or training_landmarker(meta) or "unknown",
             # a lone .onnx still tells the quality report (engine.quality.model_info) how it was trained
             "options": options if isinstance(options, dict) else None,
             "training_seconds": float(seconds) if isinstance(seconds, int | float) else None}
    if out.suffix.lower() not in (".onnx", ".dfm"):
        raise FacecompError("export writes .onnx or .dfm files", out)
    staged = out.with_name(f".{out.name}.staged.onnx")  # checked before it replaces anything
    try:
        export_swap_model(model, staged, props, fp16=fp16, opset=opset)
        diff = verify_export(model, staged, batch=1) if verify else None
        if diff is not None and diff > MAX_DIFF[fp16]:
            raise FacecompError(f"exported model differs from the trained one by {diff:.2e} (limit "
                                f"{MAX_DIFF[fp16]:.0e}); nothing written", out)
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    log.debug("exported %s (max abs diff %s)", out, diff)
    return ExportReport(path=out, kind=model.kind, archi=model.archi, resolution=model.resolution,
                        iteration=int(str(props["iteration"])), bytes=out.stat().st_size, max_abs_diff=diff)
