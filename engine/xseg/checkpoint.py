"""XSeg model folders: ``model.json`` + ``model.safetensors`` (+ ``optimizer.safetensors``), atomic and resumable.

Layout of a folder (e.g. ``workspace/xseg``)::

    model.json            {"format": "facecomp-xseg", "version": 1, "iteration", "options", "resolution",
                           "face_type", "training_seconds", "facecomp_version", "created", "updated", ...}
    model.safetensors     XSegNet.state_dict() (DFL key names, see engine.xseg.naming)
    optimizer.safetensors RMSprop accumulators ``xseg_opt.acc.<param>`` and ``xseg_opt.iters``
                          (engine.training.optimizers; older folders' ``<param>.a`` still load)
    loss.jsonl  preview.png
    backups/01 .. backups/N  the previous checkpoints, newest first (rolling)

Saves go through the swap trainer's writer (engine.training.checkpoint: files staged in ``.pending/``, moved
in place once complete, model.json last), so an interrupted save leaves the previous complete checkpoint (or
the newest backup, ``backups/01``) to resume from.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from engine import atomic
from engine.errors import FacecompError
from engine.model_json import read_versioned_json
from engine.xseg.model import XSegNet

FORMAT = "facecomp-xseg"
VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
KEEP_BACKUPS = 3
MAX_RESOLUTION = 1024  # the training option's upper bound
MAX_BASE_CH = 128  # DFL uses 32
OPTIMIZER_NAME = "xseg_opt"  # slots as the swap trainer writes them: xseg_opt.acc.<param>, xseg_opt.iters


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The model.json of an XSeg model folder, validated."""
    path = Path(folder) / MODEL_JSON
    if not path.is_file():
        raise FacecompError("no XSeg model here (model.json missing)", folder)
    return read_versioned_json(path, FORMAT, VERSION, "an XSeg model")


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise FacecompError(f"damaged weights file ({exc})", path) from None


def _bounded(meta: dict[str, Any], key: str, default: int, low: int, high: int, path: Path | None) -> int:
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FacecompError(f"damaged model.json ({key} {str(value)[:40]} is not a whole number in {low}..{high})",
                            path)
    return value


def build_model(meta: dict[str, Any], path: Path | None = None) -> XSegNet:
    """An untrained network with the resolution stored in ``meta`` (sizes bounded, so a crafted model.json
    cannot ask for a huge allocation; ``path`` names the file in errors)."""
    resolution = _bounded(meta, "resolution", 256, 64, MAX_RESOLUTION, path)
    if resolution % 64:
        raise FacecompError(f"damaged model.json (resolution {resolution} is not a multiple of 64)", path)
    return XSegNet(resolution, _bounded(meta, "base_ch", 32, 1, MAX_BASE_CH, path))


def load_model(folder: str | os.PathLike[str], map_location: str = "cpu") -> tuple[XSegNet, dict[str, Any]]:
    """Load the network of an XSeg folder (eval mode) and its model.json; clear errors naming the file."""
    folder = Path(folder)
    meta = read_meta(folder)
    model = build_model(meta, folder / MODEL_JSON)
    path = folder / WEIGHTS
    if not path.is_file():
        raise FacecompError("weights file missing", path)
    tensors = _load_tensors(path)
    own = model.state_dict()
    bad = [k for k in own if k not in tensors or tensors[k].shape != own[k].shape]
    extra = [k for k in tensors if k not in own]
    if bad or extra:
        raise FacecompError(f"weights do not fit an XSeg net at {model.resolution} px "
                            f"({len(bad)} missing/misshapen, {len(extra)} unknown)", path)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.to(map_location).eval()
    return model, meta


def load_optimizer_state(folder: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The saved optimizer tensors, or {} when there are none (training then restarts the accumulators)."""
    path = Path(folder) / OPTIMIZER
    return _load_tensors(path) if path.is_file() else {}


def optimizer_tensors(tensors: dict[str, torch.Tensor], name: str = OPTIMIZER_NAME) -> dict[str, torch.Tensor]:
    """Saved optimizer tensors in the shared optimizer's naming (folders of version 1 wrote ``<param>.a``)."""
    prefix = name + "."
    return {k if k.startswith(prefix) else f"{prefix}acc.{k[:-2]}": v for k, v in tensors.items()
            if k.startswith(prefix) or k.endswith(".a")}


def restore_from_backup(folder: str | os.PathLike[str]) -> bool:
    """When the current checkpoint is unreadable, copy the newest readable backup back; True if one was used."""
    folder = Path(folder)
    root = folder / "backups"
    if not root.is_dir():
        return False
    for sub in sorted((p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        try:
            load_model(sub)
        except FacecompError:
            continue
        for name in (WEIGHTS, OPTIMIZER, MODEL_JSON):
            if (sub / name).is_file():
                with atomic.atomic_path(folder / name) as tmp:
                    shutil.copy2(sub / name, tmp)
        return True
    return False
