"""CPU training-step variants of one config, measured in one process in alternating rounds (so that load from
other processes hits every variant alike): full ms/iter of the real loop for each way of feeding and computing.

Variants (each a trainer of the same options and seed; the step's semantics are the same in all of them):
  frozen    the step alone on one frozen batch (compute only)
  thread    batches from the background sample thread, augmented on the host (OpenCV): the CPU default
  nice      as thread, the sample thread at nice 19 (it runs in the step's idle moments)
  sync      the batch made in the training thread before each step (no sample thread)
  device    batches augmented by engine.training.device_augment on the CPU device, in the training thread
  t1        as thread, with one compute thread (torch.set_num_threads(1)) instead of one per core
  cl        as thread, channels_last weights and inputs (TrainSettings.channels_last)
  compile   as thread, the model torch.compiled (inductor, C++ via gcc)
  fp32      as thread, fp32 instead of bf16
  noshadow  as thread, bf16 autocast casting the float32 weights in every step (FACECOMP_BF16_WEIGHTS=0) instead
            of computing with the bf16 copy the update writes (engine.training.bf16_weights)
  unjoined  as thread, the ``d`` decoder's four output convs run one by one (not as blocks.joined_convs) and the
            loss's Gaussian filters as depthwise convolutions (not banded products): the step before stop 15
  tuned     as thread, the compute-thread count kept by engine.training.thread_tuner (probing after 10 steps here,
            after 200 in training)

    .venv/bin/python bench/train_step_variants.py                      # s64l bf16, every variant, 3 rounds
    .venv/bin/python bench/train_step_variants.py --variants thread cl --rounds 5 --iters 12
Prints per variant the median full ms/iter of each round and the process CPU ms/iter, and each variant's
median over rounds relative to ``thread``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import cpu_name  # noqa: E402
from bench.train_step import BENCH_OPTIONS, ROWS, facesets  # noqa: E402

VARIANTS = ("frozen", "thread", "nice", "sync", "device", "t1", "cl", "compile", "fp32", "tuned", "noshadow",
            "unjoined")


def _trainer(row: str, precision: str, pipeline: str = "host", channels_last: bool = False) -> Any:
    import torch

    from engine.models import normalize_options
    from engine.training.trainer import Trainer, TrainSettings

    kind, opts = ROWS[row]
    src, dst = facesets()
    options = normalize_options(kind, {**(BENCH_OPTIONS if kind == "saehd" else {"batch_size": 4}), **opts})
    t = Trainer(TrainSettings(model_dir=Path(tempfile.mkdtemp(prefix="facecomp_variant_")), kind=kind,
                              options=options, src=src, dst=dst, precision=precision, preview_every=0, quiet=True,
                              pipeline=pipeline, channels_last=channels_last))
    t.setup()
    torch.set_flush_denormal(t.device.type == "cpu")  # as Trainer.run (precision.denormals_flushed)
    fused = t.opt.compile_now()  # long runs use the fused update after 100 iterations: measure that
    if fused is not None:
        fused.wait()
    return t


@contextmanager
def _unjoined(on: bool) -> Iterator[None]:
    """Inside the block (when ``on``) the decoder's output convs run one by one and the loss filters by depthwise
    convolutions, as before blocks.joined_convs and the banded Gaussian products."""
    import torch

    from engine.models import archi
    from engine.training import losses

    if not on:
        yield
        return
    joined, side = archi.joined_convs, losses.BAND_MAX_SIDE
    archi.joined_convs = lambda convs, x: torch.cat([c(x) for c in convs], dim=1)
    losses.BAND_MAX_SIDE = 0
    try:
        yield
    finally:
        archi.joined_convs, losses.BAND_MAX_SIDE = joined, side


class Runner:
    """The trainers of the variants asked for, and one round of one variant."""

    def __init__(self, row: str, precision: str, variants: list[str], threads: int):
        import numpy as np
        import torch

        from engine.training.thread_tuner import ThreadTuner

        self.threads = threads or torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self.tuner = ThreadTuner(every=10, probe=3)
        self.base = _trainer(row, precision)
        self.frozen = self.base.next_batch()
        self.make = self.base.feeder._start(np.random.default_rng(99))  # the sample maker, for "sync"
        self.others: dict[str, Any] = {}
        for v, kw in (("device", {"pipeline": "device"}), ("cl", {"channels_last": True}), ("fp32", {})):
            if v in variants:
                self.others[v] = _trainer(row, "fp32" if v == "fp32" else precision, **kw)
        if "noshadow" in variants:
            os.environ["FACECOMP_BF16_WEIGHTS"] = "0"  # read by the trainer's set-up
            self.others["noshadow"] = _trainer(row, precision)
            del os.environ["FACECOMP_BF16_WEIGHTS"]
        if "compile" in variants:
            self.others["compile"] = t = _trainer(row, precision)
            t.model = torch.compile(t.model)

    def round(self, variant: str, iters: int) -> tuple[float, float]:
        """Median wall ms/iter and process CPU ms/iter of ``iters`` iterations (after 2 unmeasured ones)."""
        import torch

        from engine.training.sample_feed import batch_to_torch

        t = self.others.get(variant, self.base)
        torch.set_num_threads(1 if variant == "t1" else self.tuner.wanted() if variant == "tuned" else self.threads)
        for th in self.base.feeder._threads:
            os.setpriority(os.PRIO_PROCESS, th.native_id, 19 if variant == "nice" else 0)

        def batch() -> Any:
            if variant == "frozen":
                return self.frozen
            if variant == "sync":
                return batch_to_torch(self.make(), False)
            return t.next_batch()

        with _unjoined(variant == "unjoined"):
            for _ in range(2):
                t.step(batch())
            wall, cpu0 = [], time.process_time()
            for _ in range(iters):
                a = time.perf_counter()
                t.step(batch())
                wall.append((time.perf_counter() - a) * 1000)
                if variant == "tuned":
                    self.tuner.after_step(wall[-1])
        return sorted(wall)[iters // 2], (time.process_time() - cpu0) / iters * 1000

    def close(self) -> None:
        for t in (self.base, *self.others.values()):
            t.feeder.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--row", default="s64l", choices=list(ROWS))
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="compute threads (0 = PyTorch's default)")
    args = ap.parse_args()
    facesets()
    runner = Runner(args.row, args.precision, args.variants, args.threads)
    print(f"CPU: {cpu_name()}; {args.row} {args.precision}; load average {os.getloadavg()[0]:.2f} at start")
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in args.variants}
    try:
        for _ in range(args.rounds):
            for v in args.variants:
                results[v].append(runner.round(v, args.iters))
    finally:
        runner.close()
    med = {v: sorted(w for w, _ in r)[len(r) // 2] for v, r in results.items()}
    ref = med.get("thread")
    print(f"{'variant':<9}{'full ms/iter per round':<28}{'CPU ms/iter':<22}{'median':>8}{'/thread':>9}")
    for v, r in results.items():
        walls = " ".join(f"{w:.0f}" for w, _ in r)
        cpus = " ".join(f"{c:.0f}" for _, c in r)
        rel = f"{med[v] / ref:.2f}" if ref else "-"
        print(f"{v:<9}{walls:<28}{cpus:<22}{med[v]:>8.0f}{rel:>9}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end (the machine may be shared: compare within a round)")


if __name__ == "__main__":
    main()
