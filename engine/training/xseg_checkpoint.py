"""Writing an XSeg model folder: the swap trainer's all-or-nothing checkpoint writer (engine.training.checkpoint)
with the XSeg folder's format and rolling backups. Reading stays with the model (engine.xseg.checkpoint), which
apply and export use without the training layer."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from engine.errors import FacecompError
from engine.training import checkpoint as train_ckpt
from engine.xseg.checkpoint import FORMAT, KEEP_BACKUPS, MODEL_JSON, WEIGHTS, _now, read_meta
from engine.xseg.model import XSegNet


def save_checkpoint(folder: str | os.PathLike[str], model: XSegNet, iteration: int, options: dict[str, Any],
                    optimizer_state: dict[str, torch.Tensor] | None = None, extra: dict[str, Any] | None = None,
                    keep_backups: int = KEEP_BACKUPS) -> Path:
    """Copy the previous checkpoint into backups/01 (rolling), then write weights, optimizer state and model.json
    with the swap trainer's all-or-nothing writer (engine.training.checkpoint)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train_ckpt.recover(folder, FORMAT)
    created = _now()
    if (folder / MODEL_JSON).is_file():
        with contextlib.suppress(FacecompError):
            created = read_meta(folder).get("created", created)
        if keep_backups > 0 and (folder / WEIGHTS).is_file():
            train_ckpt.write_backup(folder, keep_backups)
    meta = {
        "kind": "xseg", "resolution": model.resolution, "base_ch": model.base_ch,
        "face_type": options.get("face_type", "whole_face"), "options": dict(options), "created": created,
    }
    meta.update(extra or {})
    train_ckpt.save_checkpoint(folder, model, iteration, {"optimizer": optimizer_state or {}}, meta, fmt=FORMAT)
    return folder
