"""The image operations of XSeg's augmentation chain in PyTorch, each matching its OpenCV counterpart in
engine.training.xseg_augment on (N,3,H,W) float32 BGR 0..1 tensors (CPU or CUDA).

Gaussian kernels follow cv2.getGaussianKernel (sigma 0: its fixed tables up to 9 taps, else
sigma = 0.3·((k−1)·0.5−1)+0.8), filters use cv2's default border (reflect-101) and correlate as cv2.filter2D,
resizes use cv2's pixel-centre convention (align_corners=False; nearest picks floor(x·in/out)), and the JPEG
round trip is libjpeg's baseline codec as OpenCV calls it: full-range YCbCr, 4:2:0 chroma (2x2 means with
libjpeg's alternating rounding bias), 8x8 DCT, the standard (ITU T.81 Annex K) tables scaled by quality as
libjpeg does, rounding, dequantisation, IDCT, triangle ("fancy") chroma upsampling.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# cv2.getGaussianKernel's fixed kernels for sigma <= 0 and 1..9 taps
_SMALL_GAUSSIAN = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
                   7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
                   9: [v / 256 for v in (4, 13, 30, 51, 60, 51, 30, 13, 4)]}


def gaussian_kernel(k: int) -> np.ndarray:
    """cv2.getGaussianKernel(k, 0) as float64."""
    if k in _SMALL_GAUSSIAN:
        return np.array(_SMALL_GAUSSIAN[k])
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """cv2.filter2D of every channel with a (kh, kw) kernel: correlation, anchor at (kh//2, kw//2), reflect-101."""
    kh, kw = kernel.shape
    c = x.shape[1]
    padded = F.pad(x, (kw // 2, kw - 1 - kw // 2, kh // 2, kh - 1 - kh // 2), mode="reflect")
    return F.conv2d(padded, kernel.to(x)[None, None].expand(c, 1, kh, kw), groups=c)


def _reflect101(i: np.ndarray, n: int) -> np.ndarray:
    """cv2's BORDER_REFLECT_101 index mapping (gfedcb|abcdefgh|gfedcba) for offsets within one side's length."""
    i = np.abs(i)
    return np.where(i > n - 1, 2 * (n - 1) - i, i)


def blur_matrix(k: int, n: int) -> np.ndarray:
    """(n, n) float32 matrix B with B @ column = cv2's 1-D gaussian filter of the column (kernel
    :func:`gaussian_kernel`, reflect-101 borders folded in): a separable blur is B @ image @ Bᵀ."""
    g = gaussian_kernel(k)
    out = np.zeros((n, n))
    rows = np.arange(n)
    for t, weight in enumerate(g):
        np.add.at(out, (rows, _reflect101(rows + t - k // 2, n)), weight)
    return out.astype(np.float32)


_BLUR_ON_DEVICE: dict[tuple[int, int, str], torch.Tensor] = {}


def _device_blur_matrix(k: int, n: int, device: torch.device) -> torch.Tensor:
    """:func:`blur_matrix` as a tensor on ``device``, kept (at most one per odd k below n: n²·n/2 floats)."""
    key = (k, n, str(device))
    m = _BLUR_ON_DEVICE.get(key)
    if m is None:
        m = _BLUR_ON_DEVICE[key] = torch.as_tensor(blur_matrix(k, n), device=device)
    return m


def gaussian_blur(x: torch.Tensor, kernels: int | list[int]) -> torch.Tensor:
    """cv2.GaussianBlur(x[i], (k, k), 0) of each sample with its own odd kernel side (one ``int``: all the
    same), as two batched matrix products with :func:`blur_matrix` (square images)."""
    ks = [kernels] * len(x) if isinstance(kernels, int) else kernels
    b = torch.stack([_device_blur_matrix(int(k), x.shape[-1], x.device) for k in ks])[:, None]
    return b @ x @ b.transpose(-1, -2)


def rgb_levels(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Per-channel levels: ``levels`` (N,5,3) rows in_lo, in_hi, gamma, out_lo, out_hi."""
    in_lo, in_hi, gamma, out_lo, out_hi = (levels[:, i, :, None, None] for i in range(5))
    y = ((x - in_lo) / (in_hi - in_lo)).clamp(0.0, 1.0) ** gamma
    return y * (out_hi - out_lo) + out_lo


def faded_circles(circles: torch.Tensor, res: int) -> torch.Tensor:
    """(N,4) circles (cx, cy, radius, fade) -> (N,1,res,res) weights: 1 inside, 0 beyond radius."""
    r = torch.arange(res, dtype=torch.float32, device=circles.device)
    cx, cy, radius, fade = (circles[:, i, None, None] for i in range(4))
    d = torch.sqrt((r[None, :, None] - cy) ** 2 + (r[None, None, :] - cx) ** 2)
    return ((radius - d) / fade).clamp(0.0, 1.0)[:, None]


def down_up(x: torch.Tensor, nearest: bool, small: int) -> torch.Tensor:
    """cv2.resize down to ``small`` and back (INTER_NEAREST or INTER_LINEAR, no antialiasing as cv2)."""
    res = x.shape[-1]
    if nearest:
        return F.interpolate(F.interpolate(x, size=(small, small), mode="nearest"), size=(res, res), mode="nearest")
    y = F.interpolate(x, size=(small, small), mode="bilinear", align_corners=False)
    return F.interpolate(y, size=(res, res), mode="bilinear", align_corners=False)


# ---- JPEG ------------------------------------------------------------------------------------------------------

_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                  14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                  49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]).reshape(8, 8)
_CHROMA = np.full((8, 8), 99)
_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def quant_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's jpeg_set_quality scaling of a base table (force_baseline: values 1..255)."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - q * 2
    return np.clip((base * scale + 50) // 100, 1, 255)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    """The orthonormal 8-point DCT-II (JPEG's 2-D DCT is D·B·Dᵀ)."""
    k = np.arange(8)
    d = np.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * 0.5
    d[0] /= math.sqrt(2)
    return torch.as_tensor(d, dtype=torch.float32, device=device)


def _blocks_round_trip(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(N,H,W) level-shifted samples (H, W multiples of 8) -> DCT, quantise with (N,8,8) tables, round,
    dequantise, IDCT, back to 0..255 integers."""
    n, h, w = plane.shape
    d = _dct_matrix(plane.device)
    blocks = (plane - 128.0).reshape(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)
    coef = d @ blocks @ d.T
    t = table[:, None, None]
    coef = torch.round(coef / t) * t
    out = (d.T @ coef @ d).permute(0, 1, 3, 2, 4).reshape(n, h, w)
    return torch.round(out + 128.0).clamp(0.0, 255.0)


def _downsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg's h2v2 downsampling: (sum of 2x2 + bias) >> 2, bias 1, 2, 1, 2... along each row."""
    s = c[:, 0::2, 0::2] + c[:, 0::2, 1::2] + c[:, 1::2, 0::2] + c[:, 1::2, 1::2]
    bias = 1.0 + (torch.arange(s.shape[-1], device=c.device) % 2).to(c)
    return torch.floor((s + bias) / 4.0)


def _upsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg's h2v2 fancy upsampling: the triangle filter (3/4, 1/4 each way, edges replicated), rounded."""
    up = F.interpolate(c[:, None], scale_factor=2, mode="bilinear", align_corners=False)[:, 0]
    return torch.round(up)


def _pad16(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % 16, 0, -h % 16), mode="replicate") if (h % 16 or w % 16) else x


def jpeg_round_trip(x: torch.Tensor, qualities: list[int]) -> torch.Tensor:
    """cv2.imdecode(cv2.imencode('.jpg', uint8(clip(x)·255), quality)) / 255 for (N,3,H,W) BGR, per-sample quality."""
    h, w = x.shape[-2:]
    v = _pad16(torch.floor(x.clamp(0.0, 1.0) * 255.0))  # numpy's uint8 cast truncates
    b, g, r = v[:, 0], v[:, 1], v[:, 2]
    y = torch.round(0.299 * r + 0.587 * g + 0.114 * b)
    cb = torch.round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128.0).clamp(0.0, 255.0)
    cr = torch.round(0.5 * r - 0.418688 * g - 0.081312 * b + 128.0).clamp(0.0, 255.0)
    luma = torch.as_tensor(np.stack([quant_table(_LUMA, q) for q in qualities]), dtype=x.dtype, device=x.device)
    chroma = torch.as_tensor(np.stack([quant_table(_CHROMA, q) for q in qualities]), dtype=x.dtype, device=x.device)
    y = _blocks_round_trip(y, luma)
    cb = _upsample(_blocks_round_trip(_downsample(cb), chroma))  # the padded side is a multiple of 16
    cr = _upsample(_blocks_round_trip(_downsample(cr), chroma))
    cb, cr = cb - 128.0, cr - 128.0
    out_r = torch.round(y + 1.402 * cr)
    out_g = torch.round(y - 0.344136 * cb - 0.714136 * cr)
    out_b = torch.round(y + 1.772 * cb)
    out = torch.stack([out_b, out_g, out_r], dim=1).clamp(0.0, 255.0) / 255.0
    return out[..., :h, :w]
