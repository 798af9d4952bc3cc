"""A DeepFaceLab model folder: which models it holds, and each model's ``*_data.dat`` (iteration, options, loss).

DFL names a model's files ``<name>_<Class>_<part>.npy`` and ``<name>_<Class>_data.dat`` (SAEHD, AMP,
Quick96); XSeg uses ``XSeg_data.dat`` and ``XSeg_256.npy``. The model name never contains ``_``. Every
file is read with the restricted reader (engine.dfl.safe_unpickle): nothing in it can run code.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.dfl.safe_unpickle import read_dfl_data, to_plain
from engine.errors import FacecompError

MAX_DATA_DAT_BYTES = 256 << 20  # options and a loss history: a long-trained model's is a few tens of MB


def class_kinds() -> dict[str, str]:
    """DFL model class -> our model kind: each swap model kind registers its DFL class name; plus XSeg."""
    from engine.models import MODEL_KINDS, spec

    return {**{spec(k).dfl_class: k for k in MODEL_KINDS}, "XSeg": "xseg"}

_DATA_FILE = re.compile(r"^(?:(?P<name>[^_]+)_)?(?P<cls>[A-Za-z0-9]+)_data\.dat$")


@dataclass
class DflModel:
    """One model of a DFL folder and the contents of its ``_data.dat``."""

    folder: Path
    prefix: str  # "<name>_<Class>" (or "XSeg"): every file of the model starts with it
    dfl_class: str
    data_path: Path
    iteration: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    loss_history: list[list[float]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return class_kinds()[self.dfl_class]

    @property
    def name(self) -> str:
        return self.prefix.rsplit("_", 1)[0] if "_" in self.prefix else self.prefix

    def numbered_losses(self) -> list[tuple[int, list[float]]]:
        """Loss history rows with their iteration (DFL appends one row per iteration; the last is ``iter``)."""
        offset = max(0, self.iteration - len(self.loss_history))
        return [(offset + i + 1, row) for i, row in enumerate(self.loss_history) if row]

    def file(self, part: str) -> Path:
        """``<prefix>_<part>.npy`` (e.g. ``new_SAEHD_encoder.npy``, ``XSeg_256.npy``)."""
        return self.folder / f"{self.prefix}_{part}.npy"


def list_models(folder: str | os.PathLike[str]) -> list[str]:
    """The model prefixes (``new_SAEHD``, ``XSeg`` ...) of a DFL model folder, newest first (as DFL lists them)."""
    d = Path(folder)
    if not d.is_dir():
        raise FacecompError("DeepFaceLab model folder does not exist", d)
    found = [p for p in d.iterdir() if p.is_file() and _DATA_FILE.match(p.name)]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [p.name[: -len("_data.dat")] for p in found]


def find_model(folder: str | os.PathLike[str], name: str | None = None) -> tuple[str, str, Path]:
    """(prefix, class, data file) of the model ``name`` (``new_SAEHD``), or the folder's only model."""
    d = Path(folder)
    models = list_models(d)
    if name is None:
        if not models:
            raise FacecompError("no DeepFaceLab model here (no *_data.dat file)", d)
        if len(models) > 1:
            raise FacecompError(f"{len(models)} DeepFaceLab models here; choose one with --name: "
                                f"{', '.join(models)}", d)
        name = models[0]
    name = name.removesuffix("_data.dat")
    data = d / f"{name}_data.dat"
    m = _DATA_FILE.match(data.name)
    if not data.is_file() or not m:
        raise FacecompError(f"no DeepFaceLab model {name!r} here (no {data.name}); models: "
                            f"{', '.join(models) or 'none'}", d)
    cls = m.group("cls")
    known = class_kinds()
    if cls not in known:
        raise FacecompError(f"DeepFaceLab model class {cls!r} is not supported; facecomp imports "
                            f"{', '.join(known)}", data)
    return name, cls, data


def _number(value: Any, what: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FacecompError(f"damaged {what} ({value!r} is not a number)", path)
    return float(value)


def read_model(folder: str | os.PathLike[str], name: str | None = None) -> DflModel:
    """Locate a model and read its ``_data.dat``: iteration, options (numpy scalars -> Python), loss history."""
    prefix, cls, data_path = find_model(folder, name)
    data = read_dfl_data(data_path, MAX_DATA_DAT_BYTES)
    if not isinstance(data, dict):
        raise FacecompError("damaged model data (not a dict)", data_path)
    it = to_plain(data.get("iter", 0))
    if isinstance(it, bool) or not isinstance(it, int) or it < 0:
        raise FacecompError(f"damaged model data (iter = {it!r})", data_path)
    options = to_plain(data.get("options", {}))
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise FacecompError("damaged model data (options is not a dict of names)", data_path)
    history = to_plain(data.get("loss_history") or [])
    if not isinstance(history, list):
        raise FacecompError("damaged model data (loss_history is not a list)", data_path)
    losses = []
    for row in history:
        row = row if isinstance(row, list) else [row]
        losses.append([_number(v, "loss_history", data_path) for v in row])
    return DflModel(Path(folder), prefix, cls, data_path, it, options, losses)
