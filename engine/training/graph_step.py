"""The generator step on CUDA as one captured CUDA graph (forward, DFL's losses, backward, optimizer update).

An eager step launches hundreds of small kernels and waits for the host between them, so a GPU step is bound
by launch overhead, not arithmetic. :class:`GraphedStep` runs a few steps eagerly (the warm-up: cuDNN picks
its algorithms, the fused update compiles), then captures one step into a graph over static input buffers
and replays it for every later iteration: the host copies the batch in, sets the learning rate and replays.
It does not wait for the step: it returns :class:`PendingStats` (the losses on their way to pinned host
memory), which the training loop reads once it has queued the next step (engine.training.train_loop), so
the host's work for step k+1 (batch, copies, replay) overlaps the GPU's step k (``FACECOMP_DEFER_STATS=0``:
wait for each step, as before).
The model is ``torch.compile``d (inductor fuses its element-wise work; ``FACECOMP_COMPILE_MODEL=0`` keeps
it eager) and the update is the fused one. Used where the step has no host decision in it: one process, no
GAN / true-face discriminators, no fp16 loss scaling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from engine.training.pending import HostSlots, PendingValues
from engine.training.settings import switched_off

log = logging.getLogger("facecomp")

WARMUP_STEPS = 3


@dataclass
class PendingStats:
    """A queued step's stats: its two losses on their way to host memory (engine.training.pending) and the host's
    stop request when the step was queued."""

    losses: PendingValues
    stop: bool

    def resolve(self) -> dict[str, Any]:
        """The step's stats as ``Trainer.step`` returns them (waits for the step to finish)."""
        src, dst = self.losses.get()
        return {"loss_src": src, "loss_dst": dst, "stop": self.stop}


def defer_wanted() -> bool:
    """Whether the graphed step returns its stats pending (``FACECOMP_DEFER_STATS=0``: it waits for each step)."""
    return not switched_off("FACECOMP_DEFER_STATS")


def graph_wanted(trainer: Any) -> bool:
    """Whether ``trainer``'s step can run as a CUDA graph (``FACECOMP_CUDA_GRAPH=0`` turns it off)."""
    if switched_off("FACECOMP_CUDA_GRAPH"):
        return False
    if trainer.device.type != "cuda" or trainer.dist.enabled or trainer.precision.scaled:
        return False
    if trainer.gan is not None or trainer.code_d is not None:
        return False
    return not trainer.opt.lr_dropout or hasattr(torch.cuda.CUDAGraph, "register_generator_state")


def compile_wanted(device: torch.device) -> bool:
    """torch.compile the model for the graph: on CUDA with Triton, unless ``FACECOMP_COMPILE_MODEL=0``."""
    import importlib.util

    if switched_off("FACECOMP_COMPILE_MODEL"):
        return False
    return device.type == "cuda" and importlib.util.find_spec("triton") is not None


class GraphedStep:
    """Callable like ``Trainer.step`` for the generator-only step (see the module doc)."""

    def __init__(self, trainer: Any, warmup: int = WARMUP_STEPS):
        self.t = trainer
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.static: dict[str, dict[str, torch.Tensor]] | None = None
        dev = trainer.device
        self.lr = torch.zeros((), dtype=torch.float32, device=dev)
        self.gscale = torch.ones((), dtype=torch.float32, device=dev)
        self.morph: torch.Tensor | None = None
        self.stream: torch.cuda.Stream | None = None
        self.defer = defer_wanted()
        self.slots = HostSlots(dev, 2)
        self.forward = trainer.model
        if compile_wanted(trainer.device):  # inductor's fused kernels inside the graph: 4-11 % less compute (H200)
            self.forward = torch.compile(trainer.model)
        opt = trainer.opt
        if opt.compile_now() is not None:
            opt.compiled.wait()  # compiling later, beside a capture, would break the capture

    def _body(self) -> None:
        t, p, batch = self.t, self.t.precision, self.static
        assert batch is not None
        t.flat.zero_grad()
        kw = t.recipe.forward_kwargs()
        if self.morph is not None:
            kw["morph_mask"] = self.morph
        with torch.autocast(t.device.type, dtype=p.dtype, enabled=p.autocast, cache_enabled=False):
            out = self.forward(batch["src"]["warped"], batch["dst"]["warped"], **kw)
            terms = t.recipe.generator(out, batch, None)
        terms.g_loss.backward()
        t.flat.extra[0] = terms.src.detach().float().mean()
        t.flat.extra[1] = terms.dst.detach().float().mean()
        t.opt.step_tensors(self.lr, self.gscale)

    def _load(self, batch: dict[str, dict[str, torch.Tensor]]) -> None:
        if self.static is None:
            self.static = {s: {k: v.clone() for k, v in d.items()} for s, d in batch.items()}
        else:
            for s, d in batch.items():
                for k, v in d.items():
                    self.static[s][k].copy_(v, non_blocking=True)
        if self.t.kind == "amp":
            from engine.models.amp import random_morph_mask

            n = batch["src"]["warped"].shape[0]
            mask = random_morph_mask(n, self.t.model.inter_dims, float(self.t.options["morph_factor"]))
            if self.morph is None:
                self.morph = mask.to(self.t.device)
            else:  # from pinned memory: a copy from pageable memory may wait for the queued step
                self.morph.copy_(mask.pin_memory() if self.morph.is_cuda else mask, non_blocking=True)

    def _capture(self) -> bool:
        """Capture the step; False (and the eager body from then on) where something in it cannot be captured."""
        graph = torch.cuda.CUDAGraph()
        if self.t.opt.lr_dropout:
            graph.register_generator_state(self.t.opt.generator)
        torch.cuda.synchronize(self.t.device)
        try:
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # the feeder threads pin memory
                self._body()
        except RuntimeError as exc:
            log.warning("the training step cannot run as a CUDA graph (%s); it runs eagerly", str(exc)[:200])
            torch.cuda.synchronize(self.t.device)
            self.failed = True
            return False
        self.graph = graph
        log.info("training step captured as a CUDA graph")
        return True

    def _stats(self) -> dict[str, Any] | PendingStats:
        """This step's losses: read now (one host synchronisation), or pending (copied to a pinned slot)."""
        stats = PendingStats(self.slots.pending(self.t.flat.extra[:2]), bool(self.t.stop_requested))
        return stats if self.defer else stats.resolve()

    def __call__(self, batch: dict[str, dict[str, torch.Tensor]]) -> dict[str, Any] | PendingStats:
        t = self.t
        self._load(batch)
        self.lr.fill_(t.opt.current_lr())
        if self.calls < self.warmup:
            if self.stream is None:
                self.stream = torch.cuda.Stream(t.device)
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                try:
                    self._body()  # the first call compiles the model
                except Exception as exc:  # noqa: BLE001 - a model inductor cannot compile trains uncompiled
                    if self.forward is t.model:
                        raise
                    log.warning("torch.compile of the model failed (%s); it runs uncompiled", str(exc)[:200])
                    self.forward = t.model
                    self._body()
            torch.cuda.current_stream().wait_stream(self.stream)
        elif self.failed or (self.graph is None and not self._capture()):
            self._body()
        else:
            assert self.graph is not None
            self.graph.replay()
        stats = self._stats()
        self.calls += 1
        t.opt.iterations += 1
        return stats
