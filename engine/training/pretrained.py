"""Start a new model from a pretrained (or ready-to-train) one: ``facecomp train --model NEW --from PRETRAINED``.

The checkpoint files of PRETRAINED (model.json and the safetensors) are copied into the new folder, model.json
last (the folder holds a model only once all of it is there). PRETRAINED is never changed, so one pretrained
model starts any number of pairs. The copy drops the source's loss history, schedule and faceset paths.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from engine import atomic
from engine.errors import FacecompError
from engine.training import checkpoint as ckpt

_DROPPED = ("schedule", "loss", "training")
PROVENANCE = ("started_from", "imported_from")  # model.json keys every later save keeps


def provenance(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Where the model came from (--from, import-dfl), carried into every save of the model."""
    return {k: stored[k] for k in PROVENANCE if stored and k in stored}


def start_from(source: Path, folder: Path) -> dict[str, Any]:
    """Copy ``source``'s checkpoint into the new model folder ``folder``; returns the copied model.json data."""
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise FacecompError("--from must be a model folder", source)
    if (source / ckpt.PENDING / ckpt.COMPLETE).exists():
        raise FacecompError("a save is under way in this model (is it training?); try again once it stopped", source)
    meta = ckpt.read_model_json(source)
    files = [name for name in (ckpt.WEIGHTS, *ckpt.EXTRA_FILES.values()) if (source / name).is_file()]
    if folder.exists():
        # an earlier --from cut short leaves checkpoint files without model.json: they are overwritten
        held = [p.name for p in folder.iterdir() if not p.name.startswith(".") and p.name not in files]
        if held or (folder / ckpt.MODEL_JSON).exists():
            raise FacecompError("--from starts a new model: use a new or empty --model folder", folder)
    stage = folder / ".from"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        stage.mkdir(parents=True)
        for name in files:
            shutil.copyfile(source / name, stage / name)
        copied = {k: v for k, v in meta.items() if k not in _DROPPED}
        copied["started_from"] = {"folder": str(source), "iteration": meta["iteration"],
                                  "checkpoint_id": meta.get("checkpoint_id")}
        atomic.write_text(stage / ckpt.MODEL_JSON, json.dumps(copied, indent=1, sort_keys=True))
        for name in [*files, ckpt.MODEL_JSON]:  # model.json last: the folder holds a model once it is there
            os.replace(stage / name, folder / name)
    except OSError as exc:
        raise FacecompError(f"cannot copy the model ({exc.strerror})", folder) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return copied
