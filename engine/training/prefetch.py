"""Background threads that keep items ready for a training loop (the swap trainer's batches, XSeg's batches).

Each worker thread gets its own random generator (``[seed, worker]``) and builds its item maker in the thread
(``start(rng)`` returns a function that makes one item); OpenCV runs one thread per worker and NumPy/OpenCV/
PyTorch release the GIL while they work. ``get()`` returns the next item; an error in a worker is raised there.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np


class Prefetcher:
    """``workers`` threads keeping ``prefetch`` items ready (see the module doc); ``close()`` stops them."""

    def __init__(self, start: Callable[[np.random.Generator], Callable[[], Any]], seed: int = 0, workers: int = 1,
                 prefetch: int = 2, transform: Callable[[Any], Any] | None = None, name: str = "facecomp-samples"):
        self.transform = transform
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(start, np.random.default_rng([seed, i])),
                                          name=f"{name}-{i}", daemon=True) for i in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def _work(self, start: Callable[[np.random.Generator], Callable[[], Any]], rng: np.random.Generator) -> None:
        cv2.setNumThreads(1)
        try:
            make = start(rng)
            while not self._stop.is_set():
                item = make()
                if self.transform is not None:
                    item = self.transform(item)
                self._put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread, which raises it
            self._put(exc)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def get(self) -> Any:
        item = self._queue.get()
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
