"""DeepFaceLab optimizer state files (``*_opt.npy``) -> per-parameter moments under our parameter names.

DFL's leras optimizers keep one slot variable per trainable weight, named after the weight's full variable
name with ``:`` replaced by ``_`` and prefixed by the slot: AdaBelief ``ms_`` (first moment) and ``vs_``
(belief second moment), RMSprop ``acc_``. Example: ``ms_encoder/down1/downs_0/conv1/weight_0:0``. The
step count is ``iters:0``. Slots are stored in the weight's own TF layout and convert like the weight.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.dfl.safe_unpickle import read_dfl_data
from engine.errors import FacecompError

SLOTS = ("ms", "vs", "acc")
_SLOT_KEY = re.compile(r"^(ms|vs|acc)_(.+)_0:0$")


@dataclass
class DflOptimizerState:
    """Moments of a DFL optimizer by slot (``ms``/``vs``/``acc``) and our parameter name, in torch layout."""

    iters: int | None = None
    slots: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``adabelief`` (ms_/vs_ slots) or ``rmsprop`` (acc_ slots)."""
        return "rmsprop" if "acc" in self.slots else "adabelief"


def read_dfl_optimizer(path: Path, params: Mapping[str, torch.Tensor],
                       name_of: Callable[[str], str | None],
                       convert: Callable[[str, np.ndarray, tuple[int, ...]], torch.Tensor]) -> DflOptimizerState:
    """Read ``path`` and map each slot to a parameter of ``params`` (our name -> tensor, for shape checks).

    ``name_of`` turns DFL's variable path (``encoder/down1/downs_0/conv1/weight``) into our parameter name
    (None: not a parameter we know), ``convert(key, array, shape)`` turns the DFL array into our layout. A slot
    that names no parameter, or whose shape does not fit, raises FacecompError naming the file and key.
    """
    data = read_dfl_data(path)
    if not isinstance(data, dict):
        raise FacecompError("damaged optimizer state (not a dict)", path)
    state = DflOptimizerState()
    for key, value in data.items():
        if not isinstance(key, str):
            raise FacecompError(f"damaged optimizer state (key {key!r})", path)
        if key == "iters:0":
            state.iters = int(np.asarray(value).reshape(-1)[0]) if np.size(value) == 1 else None
            continue
        m = _SLOT_KEY.match(key)
        if not m or not isinstance(value, np.ndarray):
            raise FacecompError(f"optimizer state {key}: not a DFL AdaBelief/RMSprop slot", path)
        slot, var = m.groups()
        ours = name_of(var)
        if ours is None or ours not in params:
            raise FacecompError(f"optimizer state {key}: no such weight in this architecture", path)
        try:
            t = convert(var + ":0", value, tuple(params[ours].shape))
        except (FacecompError, ValueError) as exc:
            raise FacecompError(f"optimizer state {key}: {getattr(exc, 'message', exc)}", path) from None
        if tuple(t.shape) != tuple(params[ours].shape):
            raise FacecompError(f"optimizer state {key}: shape {value.shape} does not fit the weight", path)
        state.slots.setdefault(slot, {})[ours] = t
    if "acc" in state.slots and ("ms" in state.slots or "vs" in state.slots):
        raise FacecompError("optimizer state mixes RMSprop and AdaBelief slots", path)
    if set(state.slots.get("ms", {})) != set(state.slots.get("vs", {})):
        raise FacecompError("optimizer state: AdaBelief ms_/vs_ slots do not pair up", path)
    return state
