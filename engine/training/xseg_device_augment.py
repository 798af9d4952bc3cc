"""XSeg's augmentation chain (engine.training.xseg_augment) on the training device, with PyTorch.

The sample threads draw each sample's random numbers with :func:`engine.training.xseg_augment.draw_chain` (the
CPU chain's draws, same order) and ship uint8 faces (BGR + mask), the other face each sample may composite
behind it (uint8 too) and the draws packed by :func:`pack_draws` as arrays. :func:`augment_batch` applies them
in the CPU chain's order on CPU or CUDA tensors: the background composite (bilinear, reflected borders as
cv2.BORDER_REFLECT), the warp + affine + flip through the swap trainer's device grid (engine.training.
device_augment: warp map on the fine lattice, inverse matrix; image bicubic with replicated borders, mask
bilinear then re-binarised at 0.5, resampled once where the CPU chain resamples twice), the flares, colour
jitter, sharpen / motion blur / gaussian blur, down-up resize and JPEG round trip in their faded circles
(engine.training.xseg_device_ops). Steps whose kernel or size differs per sample loop over the samples that
take them. The random composite occluders of ``--auto`` stay on the host (before shipping).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.training import xseg_device_ops as ops
from engine.training.device_augment import (
    FINE_CELLS,
    fine_lattice,
    inverse_matrix,
    normalise,
    pixel_grid,
    shift_hsv,
    warp_grid,
)
from engine.training.xseg_augment import Circle, ColourDraw, XSegDraw, motion_kernel

CIRCLES = ("colour", "sharpen", "motion", "blur", "resize", "jpeg")  # the faded-circle slots, in chain order
HOST_KEYS = ("has_bg", "face_flare", "bg_flare", "sharpen_k", "motion_size", "blur_k", "resize", "jpeg_q",
             "bg_kind", "colour_kind")  # integer choices the application loops over: read on the host


def _colour_rows(c: ColourDraw) -> tuple[int, np.ndarray, np.ndarray]:
    """(kind 0 = HSV / 1 = levels, (3,) HSV shift, (5,3) levels) of a colour draw."""
    if c.hsv is not None:
        return 0, np.array(c.hsv), np.zeros((5, 3))
    return 1, np.zeros(3), np.asarray(c.levels)


def pack_draws(draws: list[XSegDraw]) -> dict[str, np.ndarray]:
    """A batch of draws as arrays (float32 parameters, int32 choices; 0 = step skipped)."""
    n = len(draws)
    out: dict[str, Any] = {k: np.zeros(n, np.int32) for k in HOST_KEYS}
    out.update(bg_inverse=np.zeros((n, 2, 3)), bg_hsv=np.zeros((n, 3)), bg_levels=np.zeros((n, 5, 3)),
               strength=np.zeros(n), inverse=np.zeros((n, 2, 3)), fine=np.zeros((n, 2, FINE_CELLS + 1,
                                                                                   FINE_CELLS + 1)),
               hsv=np.zeros((n, 3)), levels=np.zeros((n, 5, 3)), circles=np.ones((n, len(CIRCLES), 4)),
               sharpen_amount=np.zeros(n), motion=np.zeros((n, 5, 5)), flip=np.zeros(n, np.int32))
    for i, d in enumerate(draws):
        if d.background is not None:
            out["has_bg"][i] = 1
            out["bg_inverse"][i] = np.linalg.inv(np.vstack([d.background.affine, [0, 0, 1]]))[:2]
            out["bg_kind"][i], out["bg_hsv"][i], out["bg_levels"][i] = _colour_rows(d.background.colour)
            out["strength"][i] = d.background.strength
        out["inverse"][i], out["fine"][i] = inverse_matrix(d.warp), fine_lattice(d.warp)
        out["face_flare"][i], out["bg_flare"][i] = d.face_flare or 0, d.bg_flare or 0
        out["colour_kind"][i], out["hsv"][i], out["levels"][i] = _colour_rows(d.colour)
        steps = (d.sharpen, d.motion, d.blur, d.resize, d.jpeg)
        circles = [d.colour_circle] + [step[-1] if step is not None else None for step in steps]
        for j, c in enumerate(circles):
            if isinstance(c, Circle):
                out["circles"][i, j] = (c.cx, c.cy, c.radius, c.fade)
        if d.sharpen is not None:
            out["sharpen_k"][i], out["sharpen_amount"][i] = d.sharpen[0], d.sharpen[1]
        if d.motion is not None:
            size = d.motion[0]
            out["motion_size"][i] = size
            out["motion"][i, :size, :size] = motion_kernel(size, d.motion[1])
        if d.blur is not None:
            out["blur_k"][i] = d.blur[0]
        if d.resize is not None:
            out["resize"][i] = d.resize[1] * (1 if d.resize[0] else -1)  # +small: nearest, -small: bilinear
        if d.jpeg is not None:
            out["jpeg_q"][i] = d.jpeg[0]
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in out.items()}


def _pixel_uv(pix: torch.Tensor, side: int) -> torch.Tensor:
    """Pixel coordinates -> grid_sample's [-1, 1] with align_corners=False (cv2's borders at −0.5 and side−0.5)."""
    return (pix * 2.0 + 1.0) / side - 1.0


def _colour(x: torch.Tensor, kind: np.ndarray, hsv: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Each sample's colour jitter: HSV shift (kind 0) or RGB levels (kind 1)."""
    out = torch.empty_like(x)
    for k in (0, 1):
        idx = np.flatnonzero(kind == k)
        if len(idx):
            sel = torch.as_tensor(idx, device=x.device)
            out[sel] = shift_hsv(x[sel].clamp(0.0, 1.0), hsv[sel]) if k == 0 else ops.rgb_levels(x[sel], levels[sel])
    return out


def composite_background(img: torch.Tensor, mask: torch.Tensor, bg: torch.Tensor, p: dict[str, torch.Tensor],
                         host: dict[str, np.ndarray]) -> torch.Tensor:
    """The other face's background (its face removed, moved, colour-jittered) blended behind each face whose
    draw has one (cv2.warpAffine bilinear, BORDER_REFLECT)."""
    idx = np.flatnonzero(host["has_bg"])
    if not len(idx):
        return img
    sel = torch.as_tensor(idx, device=img.device)
    res = img.shape[-1]
    pos = torch.einsum("hwk,njk->nhwj", pixel_grid(res, img.device), p["bg_inverse"][sel])
    moved = F.grid_sample(bg[sel], _pixel_uv(pos, res), mode="bilinear", padding_mode="reflection",
                          align_corners=False)
    bg_img, bg_mask = moved[:, :3], moved[:, 3:]
    bg_img = _colour(bg_img * (1.0 - bg_mask), host["bg_kind"][idx], p["bg_hsv"][sel], p["bg_levels"][sel])
    c_mask = 1.0 - (1.0 - bg_mask) * (1.0 - mask[sel])
    s = p["strength"][sel, None, None, None]
    face = img[sel]
    out = img.clone()
    out[sel] = face * c_mask + face * (1.0 - c_mask) * s + bg_img * (1.0 - c_mask) * (1.0 - s)
    return out


def warp_pair(img: torch.Tensor, mask: torch.Tensor, inverse: torch.Tensor, fine: torch.Tensor,
              warp: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The swap trainer's warp, affine and flip in one resampling per output: image bicubic (replicated
    borders), mask bilinear, zero outside the affine's source as cv2.warpAffine's constant border, > 0.5."""
    size = img.shape[-1]
    pos = torch.einsum("hwk,njk->nhwj", pixel_grid(size, img.device), inverse)  # after the warp, face pixels
    grid = normalise(pos, size)
    src = warp_grid(pos, fine, size) if warp else grid
    image = F.grid_sample(img, src, mode="bicubic", padding_mode="border", align_corners=True)
    inside = F.grid_sample(torch.ones_like(mask), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    m = F.grid_sample(mask, src, mode="bilinear", padding_mode="border", align_corners=True) * inside
    return image, (m > 0.5).float()


def _blend_at(img: torch.Tensor, idx: np.ndarray, out: torch.Tensor, circles: torch.Tensor) -> torch.Tensor:
    """``img`` with samples ``idx`` blended towards ``out`` (their results) inside their faded ``circles`` (N,4)."""
    if not len(idx):
        return img
    sel = torch.as_tensor(idx, device=img.device)
    w = ops.faded_circles(circles[sel], img.shape[-1])
    result = img.clone()
    result[sel] = img[sel] * (1.0 - w) + out * w
    return result


def _step(img: torch.Tensor, choices: np.ndarray, circles: torch.Tensor, fn: Any) -> torch.Tensor:
    """One local step: ``fn(images, indices, choices)`` on the samples whose choice is non-zero, blended in."""
    idx = np.flatnonzero(choices)
    if not len(idx):
        return img
    return _blend_at(img, idx, fn(img[torch.as_tensor(idx, device=img.device)], idx, choices[idx]), circles)


def _each(fn: Any) -> Any:
    """A :func:`_step` function applying ``fn(image, index, choice)`` sample by sample."""
    def run(x: torch.Tensor, idx: np.ndarray, choices: np.ndarray) -> torch.Tensor:
        return torch.cat([fn(x[j:j + 1], int(idx[j]), int(choices[j])) for j in range(len(idx))])

    return run


def augment_batch(faces: torch.Tensor, backgrounds: torch.Tensor, params: dict[str, torch.Tensor],
                  host: dict[str, np.ndarray], warp: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,H,W,4) uint8 faces (BGR, mask) and other faces, the packed draws (``params`` float tensors on the
    faces' device, ``host``: :data:`HOST_KEYS` as numpy) -> NCHW float32 image 0..1 and N1HW mask {0, 1}."""
    x = faces.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
    img, mask = x[:, :3], x[:, 3:]
    if host["has_bg"].any():
        bg = backgrounds.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        img = composite_background(img, mask, bg, params, host)
    img, mask = warp_pair(img, mask, params["inverse"], params["fine"], warp)
    for key, region in (("face_flare", mask), ("bg_flare", 1.0 - mask)):
        idx = np.flatnonzero(host[key])
        if len(idx):
            sel = torch.as_tensor(idx, device=img.device)
            img = img.clone()
            img[sel] = (img[sel] + ops.gaussian_blur(img[sel] * region[sel], host[key][idx].tolist())).clamp(0, 1)
    c = {name: params["circles"][:, j] for j, name in enumerate(CIRCLES)}
    img = _blend_at(img, np.arange(len(img)), _colour(img, host["colour_kind"], params["hsv"], params["levels"]),
                    c["colour"])
    amount = params["sharpen_amount"]

    def sharpen(s: torch.Tensor, idx: np.ndarray, ks: np.ndarray) -> torch.Tensor:
        a = amount[torch.as_tensor(idx, device=s.device), None, None, None]
        return (s + (s - ops.gaussian_blur(s, ks.tolist())) * a).clamp(0.0, 1.0)

    motion = params["motion"]
    img = _step(img, host["sharpen_k"], c["sharpen"], sharpen)
    img = _step(img, host["motion_size"], c["motion"], _each(lambda s, i, n: ops.filter2d(s, motion[i, :n, :n])))
    img = _step(img, host["blur_k"], c["blur"], lambda s, idx, ks: ops.gaussian_blur(s, ks.tolist()))
    img = _step(img, host["resize"], c["resize"], _each(lambda s, i, n: ops.down_up(s, n > 0, abs(n))))
    img = _step(img, host["jpeg_q"], c["jpeg"], lambda s, idx, qs: ops.jpeg_round_trip(s, qs.tolist()))
    return img.clamp(0.0, 1.0), mask
