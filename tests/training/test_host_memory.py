"""The trainer's malloc setting: a step's freed buffers are reused instead of faulted in again."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from engine.training.host_memory import keep_freed_memory


def _faults_of(loop: int, elements: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(loop):
        buf = torch.empty(elements)
        buf.fill_(1.0)  # touch every page, as a step's casts and activations do
        del buf
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_step_buffers_are_reused():
    elements = 5 << 20  # 20 MiB of float32: a res64 step's largest weight casts and gradients are this size
    assert keep_freed_memory()
    _faults_of(10, elements)  # the heap grows to the loop's size once (a few allocations)
    pages = elements * 4 // resource.getpagesize()
    assert _faults_of(10, elements) < pages // 10  # without the setting: about `pages` faults per allocation
