"""Data-parallel training over processes with torch.distributed (launched by ``torchrun``).

One process per device; gloo on CPU, NCCL on CUDA. Rank 0 owns the model folder (checkpoints, logs,
previews). Every rank starts from rank 0's weights; after each backward the flat gradient (with the losses and
a stop flag appended) is averaged in one all-reduce, so every rank applies the same update (DFL averages its
per-GPU gradients the same way). Optimizer randomness (lr_dropout) uses the same seed on every rank.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> DistInfo:
    """Rank and world size set by torchrun (WORLD_SIZE, RANK, LOCAL_RANK); a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA devices, gloo otherwise)."""
    if not info.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL collectives run on the current device of each process
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_(tensors: list[torch.Tensor], info: DistInfo) -> None:
    """Copy rank 0's values into every rank's ``tensors`` (in place)."""
    if not info.enabled:
        return
    for t in tensors:
        dist.broadcast(t, src=0)


def average_(flat: torch.Tensor, info: DistInfo) -> None:
    """All-reduce ``flat`` in place to the mean over ranks."""
    if not info.enabled:
        return
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(info.world)


def broadcast_int(value: int, info: DistInfo, device: torch.device) -> int:
    """Rank 0's integer, on every rank."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())



def broadcast_json(value: Any, info: DistInfo, device: torch.device) -> Any:
    """Rank 0's JSON-serialisable ``value`` on every rank (sent as UTF-8 JSON bytes)."""
    if not info.enabled:
        return value
    data = json.dumps(value).encode("utf-8") if info.is_main else b""
    size = broadcast_int(len(data), info, device)
    buf = torch.zeros(size, dtype=torch.uint8, device=device)
    if info.is_main:
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buf, src=0)
    return json.loads(bytes(buf.cpu().tolist()).decode("utf-8"))


def fingerprint(t: torch.Tensor) -> int:
    """An exact, bit-sensitive fingerprint of a float32 tensor (position-weighted sum of its bits)."""
    bits = t.detach().reshape(-1).view(torch.int32).to(torch.int64)
    weights = torch.arange(bits.numel(), dtype=torch.int64, device=t.device) % 1000003 + 1
    return int((bits * weights).sum().item())


def ranks_agree(t: torch.Tensor, info: DistInfo) -> bool:
    """True when every rank holds bit-identical values in ``t``."""
    if not info.enabled:
        return True
    mine = torch.tensor([fingerprint(t)], dtype=torch.int64, device=t.device)
    everyone = [torch.zeros_like(mine) for _ in range(info.world)]
    dist.all_gather(everyone, mine)
    return all(int(x.item()) == int(mine.item()) for x in everyone)
