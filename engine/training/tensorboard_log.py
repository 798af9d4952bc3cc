"""TensorBoard logging of a training run (``model/tensorboard/``), written by rank 0 with torch.utils.tensorboard.

Scalars, averaged over ``every`` iterations: ``loss/src``, ``loss/dst`` and every other ``loss_*`` term of
the step (``loss/gan_d``, ``loss/code_d`` ...), ``train/lr``, ``speed/ms_per_iter``, ``speed/samples_per_s``
and, on CUDA, ``gpu/memory_allocated_gib`` / ``gpu/max_memory_allocated_gib``. Image ``preview``: the preview
grid each time preview.png is refreshed. Watch with ``tensorboard --logdir <model folder>/tensorboard``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

log = logging.getLogger("facecomp")

FOLDER = "tensorboard"
EVERY = 10
JPEG_QUALITY = 92  # the event file's records carry a CRC that tensorboard computes in pure Python: keep them small


class TensorBoardLog:
    """Event files of one run; a resumed run hides the events past its checkpoint (``purge_step``)."""

    def __init__(self, model_dir: Path, iteration: int, device: torch.device, every: int = EVERY):
        from torch.utils.tensorboard import SummaryWriter

        self.path = model_dir / FOLDER
        self.writer = SummaryWriter(str(self.path), purge_step=iteration + 1 if iteration else None)
        self.device = device
        self.every = max(1, int(every))
        self._sums: dict[str, float] = {}
        self._count = 0

    def iteration(self, iteration: int, ms: float, stats: dict[str, Any], lr: float, samples: int) -> None:
        """Add one iteration; every ``every`` iterations the means are written at step ``iteration``."""
        values = {f"loss/{k[5:]}": float(v) for k, v in stats.items() if k.startswith("loss_")}
        values["speed/ms_per_iter"] = ms
        values["speed/samples_per_s"] = samples * 1000.0 / ms if ms > 0 else 0.0
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        if iteration % self.every == 0:
            self._write(iteration, lr)

    def _write(self, iteration: int, lr: float) -> None:
        if not self._count:
            return
        for k, total in self._sums.items():
            self.writer.add_scalar(k, total / self._count, iteration)
        self.writer.add_scalar("train/lr", lr, iteration)
        if self.device.type == "cuda":
            gib = float(1 << 30)
            self.writer.add_scalar("gpu/memory_allocated_gib", torch.cuda.memory_allocated(self.device) / gib,
                                   iteration)
            self.writer.add_scalar("gpu/max_memory_allocated_gib",
                                   torch.cuda.max_memory_allocated(self.device) / gib, iteration)
        self._sums, self._count = {}, 0

    def image(self, iteration: int, bgr: np.ndarray, tag: str = "preview") -> None:
        """A BGR uint8 image (the preview grid) at step ``iteration`` as a JPEG encoded by OpenCV (add_image's
        PIL PNG of a 224 px grid is ~8x larger and slower to encode and to checksum; preview.png stays lossless)."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return
        h, w = bgr.shape[:2]
        picture = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=data.tobytes())
        self.writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=picture)]), iteration)

    def flush(self, iteration: int, lr: float) -> None:
        """Write the means of a partial window (at a save) and push the events to disk."""
        self._write(iteration, lr)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tensorboard(model_dir: Path, iteration: int, device: torch.device) -> TensorBoardLog | None:
    """The run's TensorBoard log, or None (with a warning) where the tensorboard package is missing."""
    try:
        return TensorBoardLog(model_dir, iteration, device)
    except ImportError as exc:
        log.warning("no TensorBoard logging: %s (pip install tensorboard, or --no-tensorboard)", exc)
        return None
