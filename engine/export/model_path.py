"""Which exported file a ``--model`` argument means: an ``.onnx``/``.dfm`` file, or a folder holding one.

A training folder (model.json + safetensors) is accepted when it holds exactly one export (``facecomp export``
writes ``MODEL/model.onnx``); otherwise the error says the fix (run ``facecomp export``), naming the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NoReturn

from engine.errors import FacecompError

log = logging.getLogger("facecomp")

EXPORT_SUFFIXES = (".onnx", ".dfm")


def _exports(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES)


def is_training_folder(folder: Path) -> bool:
    """True for a facecomp swap-model training folder (what ``facecomp train`` writes)."""
    return (folder / "model.json").is_file() or (folder / "checkpoints").is_dir()


def _export_hint(folder: Path) -> str:
    return f"facecomp export --model {folder}"


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """The exported model file ``path`` stands for; FacecompError with the fix when it is not one."""
    p = Path(path)
    if p.is_dir():
        found = _exports(p)
        if len(found) == 1:
            log.info("%s: using its export %s", p, found[0].name)
            return found[0]
        if len(found) > 1:
            preferred = [f for f in found if f.name == "model.onnx"]
            if preferred:
                log.info("%s: using its export model.onnx (of %d exports)", p, len(found))
                return preferred[0]
            names = ", ".join(f.name for f in found)
            raise FacecompError(f"holds several exports ({names}): give one of them with --model", p)
        if is_training_folder(p):
            raise FacecompError(f"holds a trained model but no export: run {_export_hint(p)}", p)
        raise FacecompError("no exported model (.onnx/.dfm) in this folder", p)
    if p.suffix.lower() in (".json", ".safetensors"):
        if is_training_folder(p.parent):
            _from_training_file(p)
        raise FacecompError(f"a {p.suffix.lower()} file is not an exported model: give the .onnx/.dfm that "
                            "facecomp export writes", p)
    return p


def _from_training_file(p: Path) -> NoReturn:
    """A training folder's own file given as the model: say it is one and how to get an export."""
    folder = p.parent
    found = _exports(folder) if folder.is_dir() else []
    if found:
        names = ", ".join(f.name for f in found)
        raise FacecompError(f"this is a training folder's {p.name}, not an exported model: give {names} "
                            f"(or the folder {folder})", p)
    raise FacecompError(f"this is a training folder's {p.name}, not an exported model: run {_export_hint(folder)} "
                        "and give the .onnx it writes (or the folder)", p)
