"""DeepFaceLab's optimizers (dfl.md §6 "Optimizers") over one flat parameter buffer.

- AdaBelief: m = β1·m + (1−β1)·g; s = β2·s + (1−β2)·(g−m)²; w −= lr·m/(√s + ε) — no bias correction.
- RMSprop: a = ρ·a + (1−ρ)·g²; w −= lr·g/(√a + ε) — no momentum.
- lr_dropout: each step only a random share (0.3) of the weights is updated (Bernoulli mask on the update);
  lr_cos: lr·(cos(2π·it/period) + 1)/2. clipnorm: gradients scaled by c/‖g‖ when the global norm ‖g‖ >= c.

The trainable parameters are packed into one float32 buffer (:class:`FlatParams`; the modules' parameters
become views of it, their ``.grad`` views of one flat gradient buffer), so that an update is a single pass
over memory: on CPU the update is compiled once with ``torch.compile`` into one fused loop, with an eager
chunked fallback. One flat gradient also makes the data-parallel all-reduce a single call.
State names follow DFL's slots: ``<opt>.ms.<param>``, ``<opt>.vs.<param>`` (AdaBelief), ``<opt>.acc.<param>``
(RMSprop), ``<opt>.iters``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterable
from typing import Any, TypedDict

import torch
from torch import nn

log = logging.getLogger("facecomp")

EPSILON = 1e-6
BETA1, BETA2, RHO = 0.9, 0.999, 0.9
LR_DROPOUT_KEEP = 0.3  # DFL's lr_dropout: probability that a weight is updated in a step
_CHUNK = 1 << 18
_COMPILE_MIN_PARAMS = 2_000_000
# lr_dropout masks are drawn as random bytes (8 per 64-bit draw, far cheaper than floats on CPU):
# a weight is updated when its byte < 77, probability 77/256 = 0.3008
_KEEP_BYTE = round(LR_DROPOUT_KEEP * 256)


class FlatParams:
    """Named parameters packed into one flat float32 buffer; ``.grad`` of each is a view of ``self.grad``.

    ``extra`` appends slots after the gradients (the trainer all-reduces its losses and stop flag with them).
    Backward accumulates into the views in place, so call :meth:`zero_grad` (one memset) before each backward.
    """

    def __init__(self, named: Iterable[tuple[str, nn.Parameter]], extra: int = 0, channels_last: bool = False):
        self.channels_last = channels_last
        self.names: list[str] = []
        self.params: list[nn.Parameter] = []
        for name, p in named:
            self.names.append(name)
            self.params.append(p)
        if not self.params:
            raise ValueError("no trainable parameters")
        device = self.params[0].device
        self.numels = [p.numel() for p in self.params]
        self.offsets = [0]
        for n in self.numels:
            self.offsets.append(self.offsets[-1] + n)
        self.numel = self.offsets[-1]
        self.data = torch.empty(self.numel, dtype=torch.float32, device=device)
        self.grad_all = torch.zeros(self.numel + extra, dtype=torch.float32, device=device)
        self.grad = self.grad_all[: self.numel]
        self.extra = self.grad_all[self.numel:]
        self.shadow: torch.Tensor | None = None  # bf16 copy of ``data`` the step computes with (bf16_weights)
        self.shadow_grad: torch.Tensor | None = None  # its gradients, bf16, read by the update instead of grad
        with torch.no_grad():
            for i, p in enumerate(self.params):
                view = self.view(self.data, i)
                view.copy_(p.detach())
                p.data = view
                p.grad = self.view(self.grad, i)

    def view(self, buffer: torch.Tensor, index: int) -> torch.Tensor:
        """Parameter ``index``'s slice of a flat buffer in its shape; with ``channels_last`` a 4-D (convolution)
        weight is laid out (out, kh, kw, in) in the buffer and viewed as channels_last (out, in, kh, kw)."""
        shape = self.params[index].shape
        flat = buffer[self.offsets[index]:self.offsets[index + 1]]
        if self.channels_last and len(shape) == 4:
            o, i, h, w = shape
            return flat.view(o, h, w, i).permute(0, 3, 1, 2)
        return flat.view(shape)

    def zero_grad(self) -> None:
        if self.shadow_grad is None:
            self.grad_all.zero_()
        else:
            self.shadow_grad.zero_()
            self.extra.zero_()

    @property
    def step_grad(self) -> torch.Tensor:
        """The flat gradient the update reads: ``grad``, or ``shadow_grad`` while the step computes with the
        bf16 shadow (engine.training.bf16_weights)."""
        return self.grad if self.shadow_grad is None else self.shadow_grad

    def slices(self) -> Iterable[tuple[str, int, int]]:
        yield from zip(self.names, self.offsets, self.offsets[1:], strict=False)


def _adabelief_update(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, lr: torch.Tensor,
                      gscale: torch.Tensor, rnd: torch.Tensor | None, threshold: int,
                      shadow: torch.Tensor | None = None) -> None:
    g = g.float() * gscale
    m.lerp_(g, 1.0 - BETA1)
    d = g - m
    v.mul_(BETA2).addcmul_(d, d, value=1.0 - BETA2)
    upd = m / (v.sqrt() + EPSILON)
    if rnd is not None:
        upd = upd * (rnd < threshold)
    p.sub_(upd * lr)
    if shadow is not None:
        shadow.copy_(p)


def _rmsprop_update(p: torch.Tensor, g: torch.Tensor, a: torch.Tensor, unused: torch.Tensor, lr: torch.Tensor,
                    gscale: torch.Tensor, rnd: torch.Tensor | None, threshold: int,
                    shadow: torch.Tensor | None = None) -> None:
    g = g.float() * gscale
    a.mul_(RHO).addcmul_(g, g, value=1.0 - RHO)
    upd = g / (a.sqrt() + EPSILON)
    if rnd is not None:
        upd = upd * (rnd < threshold)
    p.sub_(upd * lr)
    if shadow is not None:
        shadow.copy_(p)


_UPDATES = {"adabelief": _adabelief_update, "rmsprop": _rmsprop_update}
_COMPILE_AFTER = 100  # iterations of eager updates before switching (a short run never pays the compile)


def _want_compile(device: torch.device, numel: int) -> bool:
    env = os.environ.get("FACECOMP_COMPILE_OPTIMIZER", "auto").lower()
    if env in ("0", "no", "off", "false"):
        return False
    if device.type == "cuda":
        import importlib.util

        return importlib.util.find_spec("triton") is not None  # one fused kernel instead of ~10 passes
    if device.type != "cpu":
        return False
    return env in ("1", "yes", "on", "true") or numel >= _COMPILE_MIN_PARAMS


class _CompiledUpdate:
    """``torch.compile`` of an update function (one fused loop over the flat buffers), built in a background
    thread on small dummy buffers (sizes are dynamic, so it then serves any size). ``fn`` is None until ready,
    and stays None where no compiler is available (the eager update is used)."""

    def __init__(self, method: str, dropout: bool, device: torch.device, shadow: bool = False):
        self.fn: Any = None
        self.failed = False
        self.shadow = shadow
        self._thread = threading.Thread(target=self._build, args=(method, dropout, device), daemon=True,
                                        name="facecomp-compile-optimizer")
        self._thread.start()

    def _build(self, method: str, dropout: bool, device: torch.device) -> None:
        try:
            fn = torch.compile(_UPDATES[method], dynamic=True)
            n = 4096
            p, g, s1, s2 = (torch.zeros(n, device=device) for _ in range(4))
            rnd = torch.zeros(n, dtype=torch.uint8, device=device) if dropout else None
            shadow = torch.zeros(n, dtype=torch.bfloat16, device=device) if self.shadow else None
            if self.shadow:  # the shadow's signature: bf16 gradients in, bf16 weights out
                g = g.bfloat16()
            fn(p, g, s1, s2, torch.tensor(1e-5, device=device), torch.tensor(1.0, device=device), rnd, _KEEP_BYTE,
               shadow)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.fn = fn
        except Exception as exc:  # noqa: BLE001 - no C++ compiler or unsupported platform: stay eager
            log.debug("compiled optimizer unavailable (%s); using the eager update", exc)
            self.failed = True

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.fn is not None


class DFLOptimizer:
    """AdaBelief or RMSprop as DFL's leras has them, over a :class:`FlatParams`."""

    def __init__(self, flat: FlatParams, method: str = "adabelief", lr: float = 5e-5, lr_dropout: bool = False,
                 lr_cos: int = 0, clipnorm: float = 0.0, name: str = "src_dst_opt", seed: int = 0):
        if method not in _UPDATES:
            raise ValueError(f"unknown optimizer {method!r}")
        self.flat, self.method, self.lr, self.name = flat, method, float(lr), name
        self.lr_dropout, self.lr_cos, self.clipnorm = bool(lr_dropout), int(lr_cos), float(clipnorm)
        self.iterations = 0
        dev = flat.data.device
        self.slots = ("ms", "vs") if method == "adabelief" else ("acc",)
        self.state = {s: torch.zeros(flat.numel, dtype=torch.float32, device=dev) for s in self.slots}
        self._dummy = torch.zeros(1, device=dev)
        self._gen = torch.Generator(device=dev)
        self._gen.manual_seed(seed)
        self._fn = _UPDATES[method]
        self._want_compiled = _want_compile(dev, flat.numel)
        self.compiled: _CompiledUpdate | None = None
        self._eager_steps = 0

    # ---- the step ---------------------------------------------------------------------------------
    def current_lr(self) -> float:
        lr = self.lr
        if self.lr_cos:
            lr *= (math.cos(self.iterations * 2.0 * math.pi / self.lr_cos) + 1.0) / 2.0
        return lr

    def _dropout_bytes(self) -> torch.Tensor | None:
        if not self.lr_dropout:
            return None
        n = self.flat.numel
        dev = self.flat.data.device
        words = torch.randint(-(2**63), 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64, device=dev,
                              generator=self._gen)
        return words.view(torch.uint8)[:n]

    def step(self, grad_scale: float = 1.0) -> None:
        """Apply one update from ``flat.step_grad`` (multiplied by ``grad_scale``, e.g. 1/loss-scale); with a bf16
        shadow the update also writes the new weights into it."""
        g = self.flat.step_grad
        scale = float(grad_scale)
        if self.clipnorm > 0:
            norm = float(torch.linalg.vector_norm(g, dtype=torch.float32)) * abs(scale)
            if norm >= self.clipnorm:
                scale *= self.clipnorm / norm
        dev = g.device
        lr = torch.tensor(self.current_lr(), dtype=torch.float32, device=dev)
        gscale = torch.tensor(scale, dtype=torch.float32, device=dev)
        rnd = self._dropout_bytes()
        s1 = self.state[self.slots[0]]
        s2 = self.state[self.slots[1]] if len(self.slots) > 1 else self._dummy
        shadow = self.flat.shadow
        compiled = self.compiled
        fn = compiled.fn if compiled is not None and compiled.shadow == (shadow is not None) else None
        if fn is not None:
            fn(self.flat.data, g, s1, s2, lr, gscale, rnd, _KEEP_BYTE, shadow)
        else:
            self._run_eager(self.flat.data, g, s1, s2, lr, gscale, rnd, shadow)
            self._eager_steps += 1
            if self._want_compiled and self.compiled is None and self._eager_steps >= _COMPILE_AFTER:
                self.compile_now()
        self.iterations += 1

    def step_tensors(self, lr: torch.Tensor, grad_scale: torch.Tensor) -> None:
        """:meth:`step` with the learning rate and gradient scale as device tensors and the clipping decided on
        the device: no host synchronisation, so a CUDA graph can capture it (the caller counts iterations)."""
        g = self.flat.grad
        scale = grad_scale
        if self.clipnorm > 0:
            norm = torch.linalg.vector_norm(g) * grad_scale.abs()
            scale = torch.where(norm >= self.clipnorm, grad_scale * self.clipnorm / norm, grad_scale)
        s1 = self.state[self.slots[0]]
        s2 = self.state[self.slots[1]] if len(self.slots) > 1 else self._dummy
        fn = self.compiled.fn if self.compiled is not None else None
        args = (self.flat.data, g, s1, s2, lr, scale, self._dropout_bytes())
        if fn is not None:
            fn(*args, _KEEP_BYTE)
        else:
            self._run_eager(*args)

    @property
    def generator(self) -> torch.Generator:
        """The generator of the lr_dropout masks (a CUDA graph that draws them must register it)."""
        return self._gen

    def compile_now(self) -> _CompiledUpdate | None:
        """Start building the fused update now (it takes over once built); None where it is not wanted."""
        if self.compiled is None and self._want_compiled:
            self.compiled = _CompiledUpdate(self.method, self.lr_dropout, self.flat.data.device,
                                            self.flat.shadow is not None)
        return self.compiled

    def _run_eager(self, p: torch.Tensor, g: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor, lr: torch.Tensor,
                   gscale: torch.Tensor, rnd: torch.Tensor | None, shadow: torch.Tensor | None = None) -> None:
        n = p.numel()
        chunk = n if p.device.type != "cpu" else _CHUNK
        two = s2.numel() == n
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            self._fn(p[a:b], g[a:b], s1[a:b], s2[a:b] if two else s2, lr, gscale,
                     None if rnd is None else rnd[a:b], _KEEP_BYTE, None if shadow is None else shadow[a:b])

    # ---- state ------------------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Per-parameter slots (``<name>.ms.<param>`` ...) and ``<name>.iters``, as contiguous CPU tensors."""
        out: dict[str, torch.Tensor] = {f"{self.name}.iters": torch.tensor(self.iterations, dtype=torch.int64)}
        for slot, buf in self.state.items():
            for i, pname in enumerate(self.flat.names):
                out[f"{self.name}.{slot}.{pname}"] = self.flat.view(buf, i).detach().to("cpu", copy=True).contiguous()
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> int:
        """Restore what :meth:`state_tensors` wrote (matching parameters by name; others stay zero).

        Returns the number of parameters restored; slots of another optimizer kind are ignored.
        """
        prefix = f"{self.name}."
        if f"{prefix}iters" in tensors:
            self.iterations = int(tensors[f"{prefix}iters"].item())
        restored = 0
        shapes = dict(zip(self.flat.names, (p.shape for p in self.flat.params), strict=True))
        for i, pname in enumerate(self.flat.names):
            found = [tensors.get(f"{prefix}{slot}.{pname}") for slot in self.slots]
            fits = [t for t in found if t is not None and tuple(t.shape) == tuple(shapes[pname])]
            if len(fits) != len(found):
                continue
            for slot, t in zip(self.slots, fits, strict=True):
                self.flat.view(self.state[slot], i).copy_(t)
            restored += 1
        return restored

    def reset_params(self, names: Iterable[str]) -> None:
        """Zero the slots of the given parameters (after their part was re-initialised)."""
        wanted = set(names)
        for pname, a, b in self.flat.slices():
            if pname in wanted:
                for buf in self.state.values():
                    buf[a:b].zero_()


class OptArgs(TypedDict):
    """DFLOptimizer's settings shared by a swap model's generator and discriminator optimizers."""

    method: str
    lr: float
    lr_dropout: bool
    lr_cos: int
    clipnorm: float
    seed: int


def optimizer_args(facts: Any, options: dict[str, Any], pretrain: bool, seed: int) -> OptArgs:
    """DFL's generator optimizer for a swap model: the kind's fixed one (Quick96: RMSprop, lr_dropout on, cosine)
    or AdaBelief / RMSprop per the options, lr_dropout (with the cosine schedule) off while pretraining, clipgrad
    at norm 1. ``facts``: the kind's engine.models.registry.TrainingFacts."""
    clip = 1.0 if options.get("clipgrad", False) else 0.0
    if facts.fixed_optimizer:
        return OptArgs(method=facts.fixed_optimizer, lr=facts.learning_rate, lr_dropout=True,
                       lr_cos=facts.lr_cos_period, clipnorm=clip, seed=seed)
    use_dropout = options.get("lr_dropout", "n") in ("y", "cpu") and not pretrain
    method = "adabelief" if options.get("adabelief", True) else "rmsprop"
    return OptArgs(method=method, lr=facts.learning_rate, lr_dropout=use_dropout,
                   lr_cos=facts.lr_cos_period if use_dropout else 0, clipnorm=clip, seed=seed)


def grad_norm(flat: FlatParams) -> float:
    """Global L2 norm of the flat gradient."""
    return float(torch.linalg.vector_norm(flat.grad))
