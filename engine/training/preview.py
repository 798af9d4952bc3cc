"""Training previews (DFL's preview columns), drawn with OpenCV; written atomically as PNG.

Preview columns, one row per fixed preview face: src, src→src, dst, dst→dst, dst→src (the swap), then the
learned masks: dst mask (dst→dst) and src mask of the swap (dst→src).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

COLUMNS = ("src", "src->src", "dst", "dst->dst", "dst->src", "dst mask", "swap mask")
HEADER = 18
MAX_ROWS = 4
MAX_HEIGHT = 800


def preview_rows(batch: int, resolution: int) -> int:
    """DFL's row count: min(4, batch, 800 // resolution), at least 1."""
    return max(1, min(MAX_ROWS, batch, MAX_HEIGHT // max(1, resolution)))


def _to_bgr(t: torch.Tensor) -> np.ndarray:
    """(N,C,H,W) 0..1 -> (N,H,W,3) uint8."""
    a = t.detach().float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return (a * 255.0 + 0.5).astype(np.uint8)


def _header(width: int, cell: int, labels: Sequence[str]) -> np.ndarray:
    bar = np.full((HEADER, width, 3), 32, np.uint8)
    scale = max(0.3, min(0.45, cell / 200))
    for i, text in enumerate(labels):
        cv2.putText(bar, text, (i * cell + 3, HEADER - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (230, 230, 230), 1,
                    cv2.LINE_AA)
    return bar


@torch.no_grad()
def render_preview(model: torch.nn.Module, src: torch.Tensor, dst: torch.Tensor,
                   autocast: tuple[str, torch.dtype] | None = None) -> np.ndarray:
    """The preview grid (BGR uint8) of ``model`` on fixed src/dst faces (NCHW 0..1, same count)."""
    was_training = model.training
    model.eval()
    try:
        device_type = src.device.type
        with torch.autocast(device_type, dtype=autocast[1] if autocast else torch.float32,
                            enabled=autocast is not None):
            out = model(src, dst)
    finally:
        model.train(was_training)
    cols = [src, out["pred_src_src"], dst, out["pred_dst_dst"], out["pred_src_dst"], out["pred_dst_dstm"],
            out["pred_src_dstm"]]
    images = [_to_bgr(c) for c in cols]
    rows = [np.hstack([img[i] for img in images]) for i in range(src.shape[0])]
    grid = np.vstack(rows)
    return np.vstack([_header(grid.shape[1], src.shape[-1], COLUMNS), grid])
