"""The weights a bf16 CPU step computes with, kept as a bfloat16 copy written by the optimizer's update.

Under bf16 autocast every convolution and matrix product casts its float32 weight to bfloat16 in the forward
and casts the weight's bfloat16 gradient back to float32 in the backward (``ToCopyBackward``), which is then
added into the flat float32 gradient: three passes over all weights per step that do no arithmetic (about 6 % of
a res64 CPU step). Here the flat float32 weights stay the master copy (the optimizer state, checkpoints,
previews and exports see nothing else), and a bfloat16 shadow of them (``FlatParams.shadow``) is written by the
fused update in the same pass that changes the weights. During the step's forward and backward the parameters
*are* views of the shadow and their gradients views of one flat bfloat16 gradient, which the update reads.

The numbers are the same as autocast's: the forward sees round-to-nearest bf16 weights either way, and a
weight's gradient comes out of the bf16 convolution as bf16 either way; only a weight used twice in one step
would have its two gradients summed in bf16 instead of float32, so the shadow is used only when every trainable
parameter goes into one convolution or dense call per forward (counted with a torch function mode on one forward
at set-up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from engine.training.optimizers import FlatParams
from engine.training.precision import Precision
from engine.training.settings import switched_off

AUTOCAST_LOWERED = (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)  # modules whose weights autocast casts to bf16


def wanted(device: torch.device, dtype: torch.dtype, processes: int) -> bool:
    """Whether the step may compute with a bf16 shadow: a CPU device, bf16 autocast, one process (the
    data-parallel all-reduce sums float32 gradients); ``FACECOMP_BF16_WEIGHTS=0`` turns it off."""
    if switched_off("FACECOMP_BF16_WEIGHTS"):
        return False
    return device.type == "cpu" and dtype == torch.bfloat16 and processes == 1


JOINING_CALLS = (torch.cat, F.pad)  # calls that only join or zero-pad weights (exact in any dtype) on their way
LOWERED_CALLS = (F.conv2d, F.linear, F.conv_transpose2d)  # calls whose weights autocast casts to bf16


def _tensors(value: object) -> Iterator[torch.Tensor]:
    """The tensors in a call's arguments (nested in lists, tuples and dicts, as torch.cat's list)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


class _ParameterUses(TorchFunctionMode):
    """Counts, for each parameter, the torch functions it is passed to, and whether any is not a lowered or a
    joining call."""

    def __init__(self, params: list[nn.Parameter]):
        super().__init__()
        self.uses = {id(p): 0 for p in params}
        self.other = False

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        found = [id(t) for t in _tensors((args, kwargs)) if id(t) in self.uses]
        for key in found:
            self.uses[key] += 1
        if found and func not in LOWERED_CALLS + JOINING_CALLS:
            self.other = True
        return func(*args, **kwargs)


def used_once(model: nn.Module, flat: FlatParams, forward: Callable[[], object]) -> bool:
    """True when every parameter of ``flat`` belongs to a convolution or a dense layer and, in ``forward()`` (run
    without gradients), is passed to exactly one torch function, a convolution or dense call (autocast runs those
    in bf16 anyway) or a join of several weights into one convolution's (blocks.joined_convs): then each weight
    gets one gradient, and the shadow changes no number of the step."""
    wanted_ids = {id(p) for p in flat.params}
    holders = [m for m in model.modules() if any(id(p) in wanted_ids for p in m.parameters(recurse=False))]
    owned = sum(1 for m in holders for p in m.parameters(recurse=False) if id(p) in wanted_ids)
    lowered = all(isinstance(m, AUTOCAST_LOWERED) for m in holders)
    uses = _ParameterUses(flat.params)
    with torch.no_grad(), uses:
        forward()
    return lowered and owned == len(flat.params) and not uses.other and all(n == 1 for n in uses.uses.values())


class Bf16Weights:
    """The bf16 shadow of ``flat`` and the switch of the parameters to it for one step."""

    def __init__(self, flat: FlatParams):
        self.flat = flat
        flat.shadow = torch.empty(flat.numel, dtype=torch.bfloat16, device=flat.data.device)
        flat.shadow_grad = torch.zeros(flat.numel, dtype=torch.bfloat16, device=flat.data.device)
        count = len(flat.params)
        self._bf16 = [(flat.view(flat.shadow, i), flat.view(flat.shadow_grad, i)) for i in range(count)]
        self._fp32 = [(flat.view(flat.data, i), flat.view(flat.grad, i)) for i in range(count)]
        self._version = -1
        self.refresh()

    def _stamp(self) -> int:
        """Version counters of the flat weights and of each parameter (in-place writes bump them: a write through
        a parameter, as a part reset does, counts on the parameter, not on the buffer it views)."""
        return self.flat.data._version + sum(p._version for p in self.flat.params)

    def refresh(self) -> None:
        """Copy the float32 weights into the shadow when something other than the update changed them (a load,
        a part reset by a schedule)."""
        if self._stamp() != self._version:
            assert self.flat.shadow is not None  # made in __init__
            self.flat.shadow.copy_(self.flat.data)
            self._version = self._stamp()

    def updated(self) -> None:
        """The update wrote the weights and the shadow together: the shadow is current."""
        self._version = self._stamp()

    @contextmanager
    def computing(self) -> Iterator[None]:
        """The parameters are views of the shadow (their gradients of the bf16 gradient) inside the block."""
        self.refresh()
        self._switch(self._bf16)
        try:
            yield
        finally:
            self._switch(self._fp32)

    def _switch(self, views: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        with torch.no_grad():
            for p, (data, grad) in zip(self.flat.params, views, strict=True):
                p.data = data  # the data first: a gradient must match the parameter's dtype when it is set
                p.grad = grad


def shadow_for(model: nn.Module, flat: FlatParams, device: torch.device, precision: Precision, processes: int,
               forward: Callable[[], object]) -> Bf16Weights | None:
    """The shadow of a step that may use one (:func:`wanted`) and whose ``forward()`` (the model on a batch of
    zeros, run here under autocast) uses each parameter once (:func:`used_once`); else None."""
    dtype = precision.dtype if precision.autocast else torch.float32
    if not wanted(device, dtype, processes):
        return None

    def autocast_forward() -> None:
        with torch.autocast(device.type, dtype=dtype):
            forward()

    return Bf16Weights(flat) if used_once(model, flat, autocast_forward) else None
