"""Progress bars on stderr for long work (frames, faces, iterations); silent when stderr is not a terminal."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """Wrap ``items`` in a progress bar (disabled off-terminal or with FACECOMP_NO_PROGRESS=1)."""
    disable = None if os.environ.get("FACECOMP_NO_PROGRESS") != "1" else True
    yield from tqdm(items, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=False)
