"""DeepFaceLab's sample augmentation (engine.training.augment) on the training device, with PyTorch.

The host draws each sample's random numbers exactly as the CPU pipeline does (:func:`draw_warp`,
:func:`draw_hsv`, same order, so a seed gives the same warp, affine and flip) and ships them with the face as
uint8 (image BGR + mask + eyes/mouth mask, 5 channels). Here one sampling grid per sample maps every output
pixel back into the face: flip, then the inverse affine (the target and masks), and for the input also the
random warp map (its coarse grid is evaluated on a fixed fine lattice, so all samples share one shape). Images
are sampled bicubic with replicated borders, masks bilinear with zero borders, as the CPU pipeline does; the
input is resampled once (warp and affine composed) where the CPU pipeline resamples twice. The same code runs
on CPU and CUDA tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.training.augment import WarpDraw, draw_hsv, draw_warp

FINE_CELLS = 8  # the finest cell DFL draws is w/8: its lattice holds every coarser grid exactly


@dataclass
class SideParams:
    """The random draws of one side's batch as arrays: ``inverse`` (N,2,3) output pixel -> face pixel (flip and
    inverse affine), ``fine`` (N,2,F,F) the warp map on the fine lattice, ``hsv`` (N,3) or None."""

    inverse: np.ndarray
    fine: np.ndarray
    hsv: np.ndarray | None


def fine_lattice(d: WarpDraw) -> np.ndarray:
    """(2, F, F) map coordinates of a draw at the fine lattice points q_k = (k + ½)·c − c//2 − ½, c = w/8 (the
    same function cv2.resize + crop builds per pixel in :func:`engine.training.augment.dense_maps`)."""
    c = d.w / FINE_CELLS
    q = (np.arange(FINE_CELLS + 1) + 0.5) * c - (d.w // FINE_CELLS) // 2 - 0.5
    u = np.clip((q + d.cell // 2 + 0.5) / d.cell - 0.5, 0, d.coarse_x.shape[0] - 1)  # coarse index, clamped
    i0 = np.minimum(np.floor(u).astype(int), d.coarse_x.shape[0] - 2)
    t = u - i0

    def interp(grid: np.ndarray) -> np.ndarray:
        rows = grid[i0] * (1 - t)[:, None] + grid[i0 + 1] * t[:, None]  # along y
        return rows[:, i0] * (1 - t)[None, :] + rows[:, i0 + 1] * t[None, :]  # along x

    return np.stack([interp(d.coarse_x.astype(np.float64)), interp(d.coarse_y.astype(np.float64))])


def inverse_matrix(d: WarpDraw) -> np.ndarray:
    """2x3 from an output pixel to the pixel of the (warped) face it samples: flip, then the inverse affine."""
    m = np.vstack([d.affine, [0.0, 0.0, 1.0]])
    flip = np.array([[-1.0, 0.0, d.size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if d.flip else np.eye(3)
    return (np.linalg.inv(m) @ flip)[:2]


def draw_sample(rng: np.random.Generator, size: int, flip: bool, scale_range: tuple[float, float],
                hsv_power: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float] | None]:
    """One sample's draws in the CPU pipeline's order (warp, then HSV when ``hsv_power`` > 0): inverse matrix,
    fine warp lattice, HSV shifts."""
    d = draw_warp(rng, size, flip, scale_range)
    return inverse_matrix(d), fine_lattice(d), draw_hsv(rng, hsv_power) if hsv_power > 0 else None


def draw_side(rng: np.random.Generator, count: int, size: int, flip: bool, scale_range: tuple[float, float],
              hsv_power: float) -> SideParams:
    """``count`` samples' draws (:func:`draw_sample`) as arrays."""
    rows = [draw_sample(rng, size, flip, scale_range, hsv_power) for _ in range(count)]
    return SideParams(np.stack([r[0] for r in rows]).astype(np.float32),
                      np.stack([r[1] for r in rows]).astype(np.float32),
                      np.array([r[2] for r in rows], np.float32) if hsv_power > 0 else None)


_PIXELS: dict[tuple[int, str], torch.Tensor] = {}


def pixel_grid(size: int, device: torch.device) -> torch.Tensor:
    """(size, size, 3) homogeneous pixel coordinates (x, y, 1), cached per device."""
    key = (size, str(device))
    grid = _PIXELS.get(key)
    if grid is None:
        r = torch.arange(size, dtype=torch.float32, device=device)
        y, x = torch.meshgrid(r, r, indexing="ij")
        grid = _PIXELS[key] = torch.stack([x, y, torch.ones_like(x)], dim=-1)
    return grid


def normalise(pix: torch.Tensor, side: float) -> torch.Tensor:
    """Pixel coordinates -> grid_sample's [-1, 1] with align_corners=True (pixel centres at the ends)."""
    return pix * (2.0 / (side - 1.0)) - 1.0


def warp_grid(pos: torch.Tensor, fine: torch.Tensor, size: int) -> torch.Tensor:
    """grid_sample's grid (N,H,W,2) of the random warp at face pixels ``pos`` (N,H,W,2): the fine lattice
    (N,2,F,F) interpolated bilinearly, as cv2.resize does to DFL's coarse grid (the warp's side is at least 64)."""
    w = float(size if size >= 64 else 64)
    cell = w / FINE_CELLS
    q = (pos + 0.5) * (w / size) - 0.5  # into the warp's side w
    u = (q + (int(w) // FINE_CELLS) // 2 + 0.5) / cell - 0.5  # fine lattice index
    mapped = F.grid_sample(fine, normalise(u, FINE_CELLS + 1), mode="bilinear", padding_mode="border",
                           align_corners=True)  # (N,2,H,W) face pixels at side w
    return normalise((mapped.permute(0, 2, 3, 1) + 0.5) * (size / w) - 0.5, size)


def bgr_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) BGR 0..1 -> H in degrees [0, 360), S, V in 0..1 (OpenCV's float conversion)."""
    b, g, r = x.unbind(1)
    v, _ = x.max(dim=1)
    lo, _ = x.min(dim=1)
    diff = v - lo
    s = torch.where(v > 0, diff / v.clamp_min(1e-12), torch.zeros_like(v))
    d = diff.clamp_min(1e-12)
    h = torch.where(v == r, 60.0 * (g - b) / d, torch.where(v == g, 120.0 + 60.0 * (b - r) / d,
                                                              240.0 + 60.0 * (r - g) / d))
    h = torch.where(diff > 0, h, torch.zeros_like(h))
    h = torch.where(h < 0, h + 360.0, h)
    return torch.stack([h, s, v], dim=1)


def hsv_to_bgr(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`bgr_to_hsv`: channel n of RGB is V − V·S·clip(min(k, 4 − k), 0, 1), k = (n + H/60) mod 6."""
    h, s, v = hsv.unbind(1)

    def channel(n: float) -> torch.Tensor:
        k = torch.remainder(n + h / 60.0, 6.0)
        return v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)

    return torch.stack([channel(1.0), channel(3.0), channel(5.0)], dim=1)


def shift_hsv(image: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """DFL's random_hsv_power with the drawn (N,3) shifts: hue + dh mod 360, S and V + ds, dv clipped."""
    hsv = bgr_to_hsv(image)
    h = torch.remainder(hsv[:, 0] + shifts[:, 0, None, None], 360.0)
    s = (hsv[:, 1] + shifts[:, 1, None, None]).clamp(0.0, 1.0)
    v = (hsv[:, 2] + shifts[:, 2, None, None]).clamp(0.0, 1.0)
    return hsv_to_bgr(torch.stack([h, s, v], dim=1)).clamp(0.0, 1.0)


def augment_side(faces: torch.Tensor, inverse: torch.Tensor, fine: torch.Tensor, hsv: torch.Tensor | None,
                 random_warp: bool) -> dict[str, torch.Tensor]:
    """One side's batch from (N,H,W,5) uint8 faces (BGR, mask, eyes/mouth mask) and its drawn parameters (as
    tensors on the same device): NCHW float32 ``warped``, ``target`` (0..1), ``mask``, ``em_mask`` (N,1,H,W)."""
    size = faces.shape[1]
    x = faces.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
    image, masks = x[:, :3], x[:, 3:]
    pos = torch.einsum("hwk,njk->nhwj", pixel_grid(size, faces.device), inverse)  # (N,H,W,2) face pixels
    grid = normalise(pos, size)
    target = F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=True)
    masks = F.grid_sample(masks, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    source = shift_hsv(image, hsv) if hsv is not None else image
    if random_warp:
        warped = F.grid_sample(source, warp_grid(pos, fine, size), mode="bicubic", padding_mode="border",
                               align_corners=True)
    else:
        warped = F.grid_sample(source, grid, mode="bicubic", padding_mode="border", align_corners=True) \
            if hsv is not None else target
    em = masks[:, 1:2]
    top = em.amax(dim=(2, 3), keepdim=True)
    em = torch.where(top > 0, em / top.clamp_min(1e-12), em)
    return {"warped": warped.clamp(0.0, 1.0), "target": target.clamp(0.0, 1.0), "mask": masks[:, :1].contiguous(),
            "em_mask": em}


def augment_batch(raw: dict[str, dict[str, torch.Tensor]], warp: dict[str, bool]) -> dict[str, dict[str, torch.Tensor]]:
    """Both sides of a raw batch (``faces``, ``inverse``, ``fine``, optional ``hsv`` tensors on the device) ->
    the trainer's batch; ``warp[side]``: whether that side's input gets the random warp."""
    return {side: augment_side(r["faces"], r["inverse"], r["fine"], r.get("hsv"), warp[side])
            for side, r in raw.items()}


class StreamAugmenter:
    """Device-side augmentation done by the sample threads on their own CUDA streams (``FACECOMP_AUGMENT_STREAM=0``
    leaves it to the training thread): ``__call__`` (in a sample thread) copies a raw batch of numpy arrays to
    the GPU through pinned memory and augments it there, returning the batch and an event; ``ready`` (in the
    training thread) makes the current stream wait for that event and marks the tensors as used by it."""

    def __init__(self, device: torch.device, warp: dict[str, bool]):
        import threading

        self.device, self.warp = device, warp
        self._local = threading.local()

    def __call__(self, item: dict[str, dict[str, np.ndarray]]) -> tuple[dict[str, dict[str, torch.Tensor]], Any]:
        stream = getattr(self._local, "stream", None)
        if stream is None:
            stream = self._local.stream = torch.cuda.Stream(self.device)
        with torch.cuda.stream(stream):
            raw = {side: {k: torch.from_numpy(a).pin_memory().to(self.device, non_blocking=True)
                          for k, a in arrays.items()} for side, arrays in item.items()}
            batch = augment_batch(raw, self.warp)
            done = torch.cuda.Event()
            done.record(stream)
        return batch, done

    @staticmethod
    def ready(item: tuple[dict[str, dict[str, torch.Tensor]], Any]) -> dict[str, dict[str, torch.Tensor]]:
        batch, done = item
        current = torch.cuda.current_stream()
        current.wait_event(done)
        for arrays in batch.values():
            for t in arrays.values():
                t.record_stream(current)
        return batch
