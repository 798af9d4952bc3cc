"""Import a DeepFaceLab model folder (SAEHD, AMP, Quick96, XSeg) as a facecomp model folder.

SAEHD/AMP/Quick96: options from ``<name>_<Class>_data.dat`` (DFL names and values; numpy scalars become
Python numbers), one weight file per part converted by engine.models.naming's mechanical rule into our
architecture (same shapes, checked key by key), the iteration count (``facecomp train --resume`` continues
from it), the loss history as ``loss.jsonl`` and, when present, the optimizer state and GAN / true-face
discriminators. Everything is read and checked before anything is written, and the folder is written
all-or-nothing (engine.dfl.staging). The DFL folder is only read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import atomic
from engine.dfl.model_files import DflModel, read_model
from engine.dfl.safe_unpickle import read_dfl_data
from engine.dfl.staging import check_destination, staged_folder
from engine.errors import FacecompError
from engine.faces.facetype import FaceType
from engine.training.folder_lock import writer_lock

if TYPE_CHECKING:  # torch is imported only once a model is really converted (errors before that stay fast)
    import torch

    from engine.dfl.optimizer_import import DflOptimizerState
    from engine.models.base import SwapModel

log = logging.getLogger("facecomp")

OPTIMIZER_NAME = "src_dst_opt"  # DFL's name for the SAEHD/AMP/Quick96 optimizer, kept by our trainer



def map_options(dfl: DflModel) -> tuple[dict[str, Any], list[str]]:
    """DFL options -> our option dict for ``dfl.kind`` (same names); notes on what was dropped."""
    from engine.models import model_options
    from engine.models.options import fixed_names

    known = {o.name for o in model_options(dfl.kind)} - fixed_names(dfl.kind)  # a fixed recipe stores no choice
    opts = {k: v for k, v in dfl.options.items() if k in known}
    if "face_type" in opts:
        try:
            opts["face_type"] = FaceType.parse(opts["face_type"]).short  # DFL files hold both spellings
        except FacecompError:
            raise FacecompError(f"option face_type {opts['face_type']!r} is not a model face type",
                                dfl.data_path) from None
    if isinstance(opts.get("lr_dropout"), bool):  # DFL before mid-2020 stored a bool
        opts["lr_dropout"] = "y" if opts["lr_dropout"] else "n"
    dropped = sorted(set(dfl.options) - set(opts))
    notes = [f"DFL options without a facecomp equivalent were dropped: {', '.join(dropped)}"] if dropped else []
    return opts, notes


def build_from_options(dfl: DflModel) -> tuple[Any, list[str]]:
    """Our SwapModel with the DFL model's architecture; option errors name the ``_data.dat`` file."""
    from engine.models import build_model

    opts, notes = map_options(dfl)
    try:
        model = build_model(dfl.kind, opts)
    except FacecompError as exc:
        raise FacecompError(f"{exc.message} (options of this {dfl.dfl_class} model)", dfl.data_path) from None
    return model, notes


def read_part(dfl: DflModel, part: str, expected: dict[str, torch.Tensor], file_part: str | None = None,
              ) -> dict[str, torch.Tensor]:
    """One DFL part file -> our state_dict entries of ``part`` (keys and shapes checked against ``expected``)."""
    from engine.models.naming import dfl_part_to_state_dict

    path = dfl.file(file_part or part)
    if not path.is_file():
        raise FacecompError(f"weight file missing for part {part} of this {dfl.dfl_class} model", path)
    weights = read_dfl_data(path)
    if not isinstance(weights, dict) or not all(isinstance(v, np.ndarray) for v in weights.values()):
        raise FacecompError("not a DeepFaceLab weight file (expected a dict of arrays)", path)
    try:
        return dfl_part_to_state_dict(part, weights, expected, str(path))
    except FacecompError as exc:
        raise FacecompError(exc.message, path) from None


def load_weights(dfl: DflModel, model: SwapModel) -> None:
    """Every part file into ``model`` (strict: all of our parameters must come from DFL's files)."""
    expected = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    for part in model.parts():
        state.update(read_part(dfl, part, expected))
    missing = sorted(set(expected) - set(state))
    if missing:
        raise FacecompError(f"no DFL weight for {missing[0]} ({len(missing)} missing)", dfl.folder)
    model.load_state_dict(state, strict=True)


def _optimizer(dfl: DflModel, model: SwapModel) -> DflOptimizerState | None:
    """``<prefix>_src_dst_opt.npy`` mapped to our parameter names, or None when DFL did not keep one."""
    from engine.dfl.optimizer_import import read_dfl_optimizer
    from engine.models.naming import dfl_array_to_torch, dfl_key_to_ours

    path = dfl.file("src_dst_opt")
    if not path.is_file():
        return None
    parts = set(model.parts())

    def name_of(var: str) -> str | None:
        part, _, key = var.partition("/")
        return dfl_key_to_ours(part, key + ":0") if part in parts and key else None

    return read_dfl_optimizer(path, dict(model.named_parameters()), name_of,
                              lambda key, a, shape: dfl_array_to_torch(key, a))


def _discriminators(dfl: DflModel, model: Any, opts: dict[str, Any]) -> dict[str, torch.Tensor]:
    """GAN (``GAN.npy``) and true-face (``code_discriminator.npy``) weights when DFL has them and they are on."""
    from engine.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator
    from engine.models.naming import dfl_part_file_name

    nets: dict[str, torch.nn.Module] = {}
    if float(opts.get("gan_power", 0.0)) > 0 and dfl.file(dfl_part_file_name("gan")).is_file():
        nets["gan"] = UNetPatchDiscriminator(int(opts["gan_patch_size"]), 3, int(opts["gan_dims"]))
    if float(opts.get("true_face_power", 0.0)) > 0 and dfl.file("code_discriminator").is_file():
        nets["code_discriminator"] = CodeDiscriminator(int(opts["ae_dims"]), int(model.code_res))
    out: dict[str, torch.Tensor] = {}
    for part, net in nets.items():
        expected = {f"{part}.{k}": v for k, v in net.state_dict().items()}
        out.update(read_part(dfl, part, expected, dfl_part_file_name(part)))
    return out


def optimizer_tensors(opt: DflOptimizerState, iteration: int) -> dict[str, torch.Tensor]:
    """DFL slots in the trainer's layout (engine.training.optimizers): ``src_dst_opt.<slot>.<param>``, ``.iters``."""
    import torch

    iters = opt.iters if opt.iters is not None else iteration
    out = {f"{OPTIMIZER_NAME}.iters": torch.tensor(iters, dtype=torch.int64)}
    for slot, params in opt.slots.items():
        for name, t in params.items():
            out[f"{OPTIMIZER_NAME}.{slot}.{name}"] = t.contiguous()
    return out


def import_swap_model(dfl: DflModel, stage: Path) -> dict[str, Any]:
    """Convert a SAEHD / AMP / Quick96 model into the (empty) folder ``stage``; returns a summary."""
    from engine.training import checkpoint

    model, notes = build_from_options(dfl)
    load_weights(dfl, model)
    opt = _optimizer(dfl, model)
    discs = _discriminators(dfl, model, model.options)
    extra_state: dict[str, dict[str, torch.Tensor]] = {}
    if discs:
        extra_state["discriminators"] = discs
    if opt is not None:
        extra_state["optimizer"] = optimizer_tensors(opt, dfl.iteration)
        if opt.kind != ("adabelief" if model.options.get("adabelief", True) else "rmsprop"):
            notes.append(f"the optimizer state is {opt.kind} but the adabelief option says otherwise: "
                         "training will start that optimizer fresh")
    else:
        notes.append(f"no {dfl.file('src_dst_opt').name}: the optimizer starts fresh, as DFL does without it")
    rows = [{"iteration": i, "loss_src": row[0], "loss_dst": row[1] if len(row) > 1 else None}
            for i, row in dfl.numbered_losses()]
    atomic.write_text(stage / "loss.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    meta = {"imported_from": {"deepfacelab": dfl.prefix, "class": dfl.dfl_class, "folder": str(dfl.folder)}}
    checkpoint.save_checkpoint(stage, model, dfl.iteration, extra_state or None, meta)
    return {"kind": model.kind, "archi": model.archi, "resolution": model.resolution, "options": model.options,
            "optimizer": opt is not None, "discriminators": sorted({k.split(".")[0] for k in discs}),
            "loss_rows": len(rows), "notes": notes}


def import_model(src: str | os.PathLike[str], dst: str | os.PathLike[str], name: str | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Import DFL model ``name`` (``new_SAEHD``, ``XSeg``; default: the folder's only one) from ``src`` to ``dst``."""
    s, d = Path(src), Path(dst)
    dfl = read_model(s, name)
    with contextlib.ExitStack() as held:
        if d.is_dir():  # a trainer may be writing it
            held.enter_context(writer_lock(d, "import-dfl model"))
        check_destination(s, d, force)
        summary = _import_staged(dfl, d)
    return {"src": str(s), "dst": str(d), "name": dfl.prefix, "dfl_class": dfl.dfl_class,
            "iteration": dfl.iteration, **summary}


def _import_staged(dfl: DflModel, d: Path) -> dict[str, Any]:
    with staged_folder(d) as stage:
        if dfl.kind == "xseg":
            from engine.dfl.xseg_import import import_xseg

            summary = import_xseg(dfl, stage)
        else:
            summary = import_swap_model(dfl, stage)
    return summary
