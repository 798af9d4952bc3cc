"""Import DeepFaceLab's XSeg model (``XSeg_256.npy``, ``XSeg_256_opt.npy``, ``XSeg_data.dat``) as a facecomp
XSeg folder (engine.xseg.checkpoint): weights by the mechanical key rule of engine.xseg.naming, RMSprop
accumulators as our ``<param>.a`` optimizer state, iteration count, options and loss history.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import atomic
from engine.dfl.model_files import DflModel
from engine.dfl.optimizer_import import read_dfl_optimizer
from engine.dfl.safe_unpickle import read_dfl_data
from engine.errors import FacecompError
from engine.faces.facetype import FaceType
from engine.options import resolve
from engine.training import xseg_checkpoint
from engine.xseg.model import XSegNet
from engine.xseg.naming import dfl_array_to_torch, dfl_key_to_ours, state_dict_from_dfl

_WEIGHTS = re.compile(r"_(\d+)\.npy$")


def weights_file(dfl: DflModel) -> tuple[Path, int]:
    """``XSeg_<res>.npy`` and its resolution (DFL fixes 256)."""
    found = sorted((p for p in dfl.folder.glob(f"{dfl.prefix}_*.npy") if _WEIGHTS.search(p.name)),
                   key=lambda p: p.name)
    if not found:
        raise FacecompError(f"XSeg weights missing (no {dfl.prefix}_256.npy)", dfl.folder)
    if len(found) > 1:
        raise FacecompError(f"several XSeg weight files: {', '.join(p.name for p in found)}", dfl.folder)
    match = _WEIGHTS.search(found[0].name)
    if match is None:
        raise FacecompError("XSeg weight file name without a resolution", found[0])
    return found[0], int(match.group(1))


def load_weights(model: XSegNet, path: Path) -> None:
    """DFL weights into ``model``; FacecompError naming ``path`` and the key on any mismatch."""
    weights = read_dfl_data(path)
    if not isinstance(weights, dict) or not all(isinstance(v, np.ndarray) for v in weights.values()):
        raise FacecompError("not a DeepFaceLab weight file (expected a dict of arrays)", path)
    bad = [k for k, v in weights.items() if not isinstance(k, str) or v.dtype.kind != "f"]
    if bad:
        raise FacecompError(f"weight {bad[0]!r} is not a floating-point array", path)
    try:
        model.load_state_dict(state_dict_from_dfl(weights, model))
    except ValueError as exc:
        raise FacecompError(f"{exc} (not an XSeg model at {model.resolution} px)", path) from None


def _param_name(model: XSegNet) -> Any:
    tops = {name.split(".", 1)[0] for name, _ in model.named_parameters()}

    def name_of(var: str) -> str | None:
        scope, _, rest = var.partition("/")
        return dfl_key_to_ours(rest if scope not in tops and rest else var)

    return name_of


def _options(dfl: DflModel, resolution: int) -> tuple[dict[str, Any], list[str]]:
    from engine.training.xseg_trainer import XSEG_OPTIONS

    notes = []
    given: dict[str, Any] = {"resolution": resolution}
    ft = dfl.options.get("face_type")
    if ft is not None:
        try:
            given["face_type"] = FaceType.parse(ft).label
        except FacecompError:
            raise FacecompError(f"unknown face_type {ft!r} in the XSeg options", dfl.data_path) from None
    if "batch_size" in dfl.options:
        given["batch_size"] = dfl.options["batch_size"]
    if dfl.options.get("pretrain"):
        notes.append("DFL's XSeg pretrain mode has no facecomp equivalent; training resumes on labelled faces")
    dropped = sorted(set(dfl.options) - {"face_type", "batch_size", "pretrain"})
    if dropped:
        notes.append(f"DFL options without a facecomp XSeg equivalent were dropped: {', '.join(dropped)}")
    return resolve(XSEG_OPTIONS, config=given, config_name=str(dfl.data_path)), notes


def import_xseg(dfl: DflModel, stage: Path) -> dict[str, Any]:
    """Convert the XSeg model ``dfl`` into the (empty) folder ``stage``; returns a summary."""
    path, res = weights_file(dfl)
    model = XSegNet(res)
    load_weights(model, path)
    options, notes = _options(dfl, res)
    opt_state: dict[str, torch.Tensor] = {}
    opt_path = dfl.folder / f"{dfl.prefix}_{res}_opt.npy"
    if opt_path.is_file():
        state = read_dfl_optimizer(opt_path, dict(model.named_parameters()), _param_name(model),
                                   dfl_array_to_torch)
        if state.kind != "rmsprop":
            raise FacecompError("XSeg optimizer state is not RMSprop (acc_ slots)", opt_path)
        opt_state = {name + ".a": t for name, t in state.slots.get("acc", {}).items()}
    else:
        notes.append(f"no {opt_path.name}: the optimizer starts fresh, as DFL does without it")
    rows = [{"iteration": i, "loss": row[0]} for i, row in dfl.numbered_losses()]
    atomic.write_text(stage / "loss.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    xseg_checkpoint.save_checkpoint(stage, model, dfl.iteration, options, opt_state or None,
                               {"imported_from": {"deepfacelab": dfl.prefix, "folder": str(dfl.folder)}},
                               keep_backups=0)
    return {"kind": "xseg", "resolution": res, "options": options, "optimizer": bool(opt_state),
            "loss_rows": len(rows), "notes": notes}

