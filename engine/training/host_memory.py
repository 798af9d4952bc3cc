"""Keep freed host memory in the process while training (glibc's malloc).

A training step allocates and frees the same tensors every iteration (autocast's weight casts, activations,
gradients: ~20 MiB at res64 batch 4). glibc serves blocks above its mmap threshold with fresh mappings and
trims freed memory at the top of the heap, so every step faults those pages in again and zeroes them: about
5,000 page faults and 10-15 % of a res64 CPU step on a 2-core EPYC (docs/training.md, CPU figures). Raising the
mmap threshold to glibc's maximum and the trim threshold keeps freed blocks for the next step. The setting is
process-wide and lasts for the process (the memory held is the step's peak, which it reaches anyway).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger("facecomp")

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest allowed value on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Tune glibc's malloc so freed training buffers are reused, not unmapped; False (nothing changed) where the C
    library has no ``mallopt`` (macOS, Windows, musl) or refuses a value."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("malloc keeps freed memory: %s", done)
    return done
