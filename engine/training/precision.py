"""Device and numeric precision of training: fp32, bf16 autocast (CPUs with AVX512-BF16/AMX, CUDA) or fp16
autocast with dynamic loss scaling (CUDA).

Weights, optimizer state and losses stay float32; autocast runs the convolutions and matrix products in the
lower precision. fp16 gradients are scaled up before backward and the scale is folded into the optimizer
update; a step whose gradients overflowed is skipped and the scale halved (as torch.amp.GradScaler does).
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from engine.errors import FacecompError
from engine.training.settings import PIPELINES

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True on CPUs with native bfloat16 arithmetic (x86 avx512_bf16 or AMX; Linux /proc/cpuinfo)."""
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        return False
    return False


def choose_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when present, else CPU; under torchrun each rank takes GPU ``local_rank``."""
    if name not in DEVICES:
        raise FacecompError(f"--device {name!r}: use one of {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise FacecompError("--device cuda: no CUDA GPU is visible to PyTorch (this torch build: "
                                f"{torch.__version__})")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def pipeline_on_device(pipeline: str, device: torch.device) -> bool:
    """Whether ``--sample-pipeline`` augments samples on the training device: ``device``, or ``auto`` on CUDA
    (``host``: never; on a CPU OpenCV on the host is the faster)."""
    if pipeline not in PIPELINES:
        raise FacecompError(f"sample pipeline {pipeline!r}: use one of {', '.join(PIPELINES)}")
    return pipeline == "device" or (pipeline == "auto" and device.type == "cuda")


@contextmanager
def denormals_flushed(device: torch.device) -> Iterator[None]:
    """On a CPU device: denormal floats flush to zero in this thread for the block (tiny optimizer moments must
    not fall into slow denormal arithmetic), then IEEE arithmetic again. The flag is per process thread and
    torch has no getter: the block restores the process default (off), so image I/O after a training run in the
    same process (a test, a host's worker) sees exact denormals."""
    if device.type != "cpu":
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@dataclass
class Precision:
    """How the step computes: autocast dtype and, for fp16, the dynamic loss scale."""

    name: str
    dtype: torch.dtype
    scale: float = 1.0
    growth_interval: int = 2000
    _good_steps: int = field(default=0, repr=False)

    @property
    def autocast(self) -> bool:
        return self.name != "fp32"

    @property
    def scaled(self) -> bool:
        return self.name == "fp16"

    @property
    def unscale(self) -> float:
        return 1.0 / self.scale

    def backward(self, loss: torch.Tensor, update: bool = True) -> None:
        (loss * self.scale if self.scaled else loss).backward()

    def step_ok(self, grad: torch.Tensor, update: bool = True) -> bool:
        """False (and the scale halved) when fp16 gradients overflowed; True otherwise."""
        if not self.scaled:
            return True
        finite = bool(torch.isfinite(grad).all())
        if update:
            if finite:
                self._good_steps += 1
                if self._good_steps >= self.growth_interval:
                    self.scale *= 2.0
                    self._good_steps = 0
            else:
                self.scale = max(1.0, self.scale * 0.5)
                self._good_steps = 0
        return finite


def choose_precision(name: str, device: torch.device) -> Precision:
    """``auto``: bf16 on CUDA (fp16 where bf16 is missing) and on CPUs with native bf16, else fp32."""
    if name not in PRECISIONS:
        raise FacecompError(f"--precision {name!r}: use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            name = "bf16" if cpu_has_bf16() else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise FacecompError("--precision fp16 needs a CUDA device (on CPU use bf16 or fp32)")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
    return Precision(name, dtype, scale=65536.0 if name == "fp16" else 1.0)


def channels_last_wanted(device: torch.device, asked: bool | None = None) -> bool:
    """Whether the step keeps convolution weights and inputs channels_last (NHWC): ``asked`` when given, else
    ``FACECOMP_CHANNELS_LAST`` (1/0), else the device's default: off on CPU (oneDNN, res64 liae-ud b4: 11-20 %
    slower in bf16 and fp32, docs/training.md) and off on CUDA (not measured on a GPU yet)."""
    if asked is not None:
        return bool(asked)
    import os

    env = os.environ.get("FACECOMP_CHANNELS_LAST", "auto").lower()
    if env in ("1", "yes", "on", "true"):
        return True
    if env in ("0", "no", "off", "false", "auto", ""):
        return False
    raise FacecompError(f"FACECOMP_CHANNELS_LAST={env!r}: use 1, 0 or auto")
