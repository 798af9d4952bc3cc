"""GPU rows of bench/train_step.py (``--device cuda``): the issue-14 configs, each in several step variants.

For every config and variant, in one process (one CUDA context; memory freed between runs):
  full     ms/iter of the real loop (background sample generator, host -> device copy, augmentation, step),
           timed as the trainer's loop runs (a graphed step's losses read after the next step is queued)
  compute  ms/iter of the step alone on one frozen batch, timed the same way
  full/compute, TFLOP/s (FLOPs of one eager step from torch.utils.flop_counter / compute time), peak GPU GiB.
Variants: ``today`` (host augmentation, eager step, no fused update: the code before issue 14), ``eager``
(device augmentation, eager step), ``graph`` (device augmentation, step as a CUDA graph with the fused update),
``nofuse`` (graph without the fused update), ``compile`` (graph of the torch.compile'd model), ``mainaug``
(graph, augmentation in the training thread instead of the sample threads' streams), ``compsync`` (compile,
each step's losses read before the next step is queued: the loop before deferred stats), ``hostaug`` (eager with
host augmentation: beside ``eager``, what the device pipeline alone changes), and fp32 beside bf16. XSeg runs
eager steps (each step's loss read after the next is queued, as its loop does); its pipeline follows the variant
(host or device; the device chain runs in the training thread).

    PYTHONPATH=$PWD python3 bench/train_step.py --device cuda --faces gpu_faces [--configs ...] [--variants ...]
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# name: (kind, options) — batch included
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "r256_liae_udt_b8": ("saehd", dict(resolution=256, archi="liae-udt", ae_dims=256, e_dims=64, d_dims=64,
                                       d_mask_dims=22, batch_size=8)),
    "r128_df_ud_b16": ("saehd", dict(resolution=128, archi="df-ud", batch_size=16)),
    "r256_liae_udt_b32": ("saehd", dict(resolution=256, archi="liae-udt", ae_dims=256, e_dims=64, d_dims=64,
                                        d_mask_dims=22, batch_size=32)),
    "amp224_b8": ("amp", dict(resolution=224, batch_size=8)),
    "xseg256_b8": ("xseg", dict(resolution=256, batch_size=8)),
}
# variant: (pipeline, cuda graph, fused update)
VARIANTS = {"today": ("host", False, False), "eager": ("device", False, True), "graph": ("device", True, True),
            "nofuse": ("device", True, False), "compile": ("device", True, True), "mainaug": ("device", True, True),
            "compilecl": ("device", True, True),  # compilecl: compile + channels_last weights and inputs
            "compsync": ("device", True, True),  # compile, the loop waiting for each step's losses (no deferral)
            "hostaug": ("host", False, True)}  # eager with host augmentation: against eager, the pipeline alone


def _device() -> str:
    """cuda; cpu only to dry-run this script where there is no GPU (FACECOMP_BENCH_TINY=1 shrinks the configs)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_peak() -> None:
    """Free what earlier runs left (trainer <-> graph step cycles hold CUDA graphs and their memory pools)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def _config(name: str) -> tuple[str, dict[str, Any]]:
    kind, opts = CONFIGS[name]
    if os.environ.get("FACECOMP_BENCH_TINY"):
        opts = {**opts, "resolution": 64, "batch_size": 2, "ae_dims": 32, "e_dims": 16, "d_dims": 16,
                "d_mask_dims": 16} if kind != "xseg" else {**opts, "resolution": 64, "batch_size": 2}
        if kind == "amp":
            opts["inter_dims"] = 64
    return kind, opts


_DECODED: dict[tuple[str, int, str], dict[int, Any]] = {}


def _reuse_decoded_faces() -> None:
    """Decode each faceset once per resolution for all runs (the trainer preloads in worker processes: spawning
    them for every run would cost seconds of device time each)."""
    from engine.training.samples import Faceset

    if getattr(Faceset.preload, "_bench", False):
        return
    original = Faceset.preload

    def preload(self: Faceset, workers: int) -> int:
        key = (str(self.folder), self.resolution, str(self.face_type))
        if key not in _DECODED:
            original(self, workers)
            _DECODED[key] = dict(self.cache.items)
        for i, sample in _DECODED[key].items():
            self.cache.store(i, sample)
        return len(_DECODED[key])

    preload._bench = True  # type: ignore[attr-defined]
    Faceset.preload = preload  # type: ignore[method-assign]


def _env(graph: bool, fused: bool, compile_model: bool = False, main_thread_augment: bool = False,
         channels_last: bool = False, defer: bool = True) -> None:
    os.environ["FACECOMP_CUDA_GRAPH"] = "1" if graph else "0"
    os.environ["FACECOMP_DEFER_STATS"] = "1" if defer else "0"
    os.environ["FACECOMP_CHANNELS_LAST"] = "1" if channels_last else "0"
    os.environ["FACECOMP_COMPILE_MODEL"] = "1" if compile_model else "0"  # graph: uncompiled; compile: compiled
    os.environ["FACECOMP_AUGMENT_STREAM"] = "0" if main_thread_augment else "1"
    os.environ["FACECOMP_COMPILE_OPTIMIZER"] = "auto" if fused else "0"


def _looped(fn: Any, iters: int) -> list[float]:
    """ms of each of ``iters`` steps run as engine.training.train_loop runs them: a step's pending stats
    (graph_step.PendingStats) are read once the next step is queued, its ms timed by the loop's ReadClock; a
    step that returns its stats read counts its own time."""
    from engine.training.pending import ReadClock

    _sync()
    clock, out = ReadClock(), []

    def read(stats: Any, started: float) -> None:
        if hasattr(stats, "resolve"):
            stats.resolve()
        out.append(clock.lap(started))

    pending: tuple[Any, float] | None = None
    for _ in range(iters):
        started = time.perf_counter()
        stats = fn()
        if pending is not None:
            read(*pending)
        pending = (stats, started)
        if not hasattr(stats, "resolve"):
            read(*pending)
            pending = None
    if pending is not None:
        read(*pending)
    return out


def _median(v: list[float]) -> float:
    return sorted(v)[len(v) // 2]


def measure_swap(config: str, variant: str, precision: str, faces: Path, iters: int, warmup: int) -> dict:
    """One swap-model config/variant: full and compute ms/iter, TFLOP/s, peak GPU memory."""
    from torch.utils.flop_counter import FlopCounterMode

    from engine.models import normalize_options
    from engine.training.trainer import Trainer, TrainSettings

    kind, opts = _config(config)
    pipeline, graph, fused = VARIANTS[variant]
    _env(graph, fused, variant in ("compile", "compilecl", "compsync"), variant == "mainaug", variant == "compilecl",
         defer=variant != "compsync")
    options = normalize_options(kind, {"face_type": "wf", **opts})
    _reset_peak()
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(TrainSettings(model_dir=Path(tmp), kind=kind, options=options, src=faces / "src",
                                  dst=faces / "dst", device=_device(), precision=precision, preview_every=0,
                                  quiet=True, pipeline=pipeline))
        t.setup()
        if fused and t.graphed is None and t.opt.compile_now() is not None:
            t.opt.compiled.wait()
        for _ in range(warmup):
            t.step(t.next_batch())
        full = _looped(lambda: t.step(t.next_batch()), iters)
        frozen = t.next_batch()
        compute = _looped(lambda: t.step(frozen), iters)
        graphed, t.graphed = t.graphed, None
        with FlopCounterMode(display=False) as counter:
            t.step(frozen)
        flops = counter.get_total_flops()
        t.feeder.close()
    peak = _peak_gib()
    c = _median(compute)
    return {"config": config, "variant": variant, "precision": precision, "full_ms": _median(full),
            "compute_ms": c, "ratio": _median(full) / c, "tflops": flops / 1e12 / (c / 1000),
            "gflop_step": flops / 1e9, "peak_gib": peak, "graph": graphed is not None}


def measure_xseg(variant: str, precision: str, faces: Path, iters: int, warmup: int) -> dict:
    """XSeg 256 training step (engine.training.xseg_trainer's loop pieces): full (augmented batches) and compute."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from engine.training import xseg_trainer as xt
    from engine.training.pending import HostSlots

    opts = _config("xseg256_b8")[1]
    _env(VARIANTS[variant][1], VARIANTS[variant][2])
    _reset_peak()
    device = torch.device(_device())
    step, maker = xt.bench_step(faces / "dst", opts["resolution"], opts["batch_size"], precision == "bf16", device,
                                pipeline=VARIANTS[variant][0])
    slots = HostSlots(device, 1)  # as the XSeg loop: each step's loss read after the next step is queued

    def queued(b: Any) -> Any:
        return SimpleNamespace(resolve=slots.pending(step(b)).get)

    for _ in range(warmup):
        step(maker.next())
    full = _looped(lambda: queued(maker.next()), iters)
    frozen = xt.batch_tensors(maker.next(), device)  # augmented: compute is the step alone
    compute = _looped(lambda: queued(frozen), iters)
    with FlopCounterMode(display=False) as counter:
        step(frozen, eager=True)
    flops = counter.get_total_flops()
    maker.close()
    c = _median(compute)
    return {"config": "xseg256_b8", "variant": variant, "precision": precision, "pipeline": VARIANTS[variant][0],
            "full_ms": _median(full),
            "compute_ms": c, "ratio": _median(full) / c, "tflops": flops / 1e12 / (c / 1000),
            "gflop_step": flops / 1e9, "peak_gib": _peak_gib(), "graph": False}


def run_all(faces: Path, configs: list[str], variants: list[str], precisions: list[str], iters: int, warmup: int,
            log: Path | None, plan: list[str] | None = None) -> list[dict]:
    """Every config x variant x precision (or the ``plan``'s config:variant:precision triples, in its order);
    a failure is reported and the next one runs."""
    import torch

    runs = [tuple(p.split(":")) for p in plan] if plan else [(c, v, p) for c in configs for v in variants
                                                              for p in precisions]

    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU dry run)"
    print(f"GPU: {name}; torch {torch.__version__}; CUDA {torch.version.cuda}", flush=True)
    print(f"{'config':<19}{'variant':<8}{'prec':<6}{'full ms':>9}{'compute':>9}{'f/c':>6}{'TFLOP/s':>9}"
          f"{'GFLOP':>8}{'GiB':>7}", flush=True)
    _reuse_decoded_faces()
    results = []
    for config, variant, prec in runs:
        try:
            if CONFIGS[config][0] == "xseg":
                m = measure_xseg(variant, prec, faces, iters, warmup)
            else:
                m = measure_swap(config, variant, prec, faces, iters, warmup)
        except Exception as exc:  # noqa: BLE001 - one failed variant must not stop the others
            import traceback

            print(f"{config:<19}{variant:<8}{prec:<6} failed: {type(exc).__name__}: {exc}"[:600], flush=True)
            traceback.print_exc(limit=-4)
            _sync()
            continue
        results.append(m)
        print(f"{config:<19}{variant:<8}{prec:<6}{m['full_ms']:>9.2f}{m['compute_ms']:>9.2f}"
              f"{m['ratio']:>6.2f}{m['tflops']:>9.1f}{m['gflop_step']:>8.0f}{m['peak_gib']:>7.2f}", flush=True)
        if log is not None:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps(m) + "\n")
    return results
