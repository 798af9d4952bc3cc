"""DFL's RMSprop with lr_dropout (leras): a = rho*a + (1-rho)*g^2; step = -lr * g / (sqrt(a) + eps).

With ``lr_dropout`` < 1 each step updates only a random subset of the weights: the step is multiplied by a
Bernoulli mask whose keep probability is ``lr_dropout`` (DFL's XSeg uses 0.3). No momentum, no centring.
State (``a`` per parameter) saves to safetensors through :meth:`named_state` / :meth:`load_named_state`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class DFLRMSprop(torch.optim.Optimizer):
    """RMSprop as DeepFaceLab's leras implements it (zero-initialised accumulator, eps outside the sqrt)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-4, rho: float = 0.9, eps: float = 1e-6,
                 lr_dropout: float = 1.0, generator: torch.Generator | None = None):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "lr_dropout": lr_dropout})
        self.generator = generator

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's signature
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, rho, eps, keep = group["lr"], group["rho"], group["eps"], group["lr_dropout"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.float()
                state = self.state[p]
                if "a" not in state:
                    state["a"] = torch.zeros_like(p, dtype=torch.float32)
                a = state["a"]
                a.mul_(rho).addcmul_(g, g, value=1.0 - rho)
                upd = g / (a.sqrt() + eps)
                if keep < 1.0:
                    upd.mul_(torch.bernoulli(torch.full_like(upd, keep), generator=self.generator))
                p.add_(upd.to(p.dtype), alpha=-lr)
        return loss

    def named_state(self, names: dict[torch.nn.Parameter, str]) -> dict[str, torch.Tensor]:
        """Accumulators keyed ``<param name>.a`` (for safetensors)."""
        out = {}
        for group in self.param_groups:
            for p in group["params"]:
                if "a" in self.state[p]:
                    out[names[p] + ".a"] = self.state[p]["a"].contiguous()
        return out

    def load_named_state(self, tensors: dict[str, torch.Tensor], names: dict[torch.nn.Parameter, str]) -> int:
        """Restore accumulators saved by :meth:`named_state`; returns how many matched (shape-checked)."""
        n = 0
        for group in self.param_groups:
            for p in group["params"]:
                t = tensors.get(names[p] + ".a")
                if t is not None and t.shape == p.shape:
                    self.state[p]["a"] = t.float().clone()
                    n += 1
        return n
