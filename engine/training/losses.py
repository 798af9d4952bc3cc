"""DeepFaceLab's training losses (dfl.md §6 "Losses") as PyTorch functions on NCHW float tensors.

Every loss returns one value per sample (shape (N,)), as DFL's do: the trainer sums them over the batch
(TF's gradient of a per-sample loss vector is the gradient of its sum) and prints their batch mean.
Losses run in float32 even under autocast: SSIM's variances cancel badly in bfloat16.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

_NO_AUTOCAST: dict[str, Any] = {"enabled": False}


def _fp32(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.float() for t in tensors]


@functools.lru_cache(maxsize=64)
def _gauss_1d(size: int, sigma: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    k = torch.exp(-(x**2) / (2.0 * sigma**2))
    return (k / k.sum()).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _gauss_band(n: int, size: int, sigma: float, pad: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """The (n, n + 2·pad − size + 1) matrix that filters a length-n axis with the Gaussian (zero padding pad):
    ``x @ band`` filters the last axis. Cached: no host copy per call."""
    k = _gauss_1d(size, sigma, "cpu", torch.float64)
    tap = torch.arange(n).view(-1, 1) - torch.arange(n + 2 * pad - size + 1).view(1, -1) + pad
    band = torch.where((tap >= 0) & (tap < size), k[tap.clamp(0, size - 1)], torch.zeros((), dtype=k.dtype))
    return band.to(device=device, dtype=dtype)


BAND_MAX_SIDE = 64  # sides up to which the banded products beat the depthwise convolutions (CPU, whole DSSIM
# forward + backward: 7 vs 8 ms at res64 batch 4, even at 96, the convolutions ahead from 128)


def _separable(x: torch.Tensor, size: int, sigma: float, pad: int = 0) -> torch.Tensor:
    """Gaussian filtering of every channel of ``x`` (N, C, H, W) along H and W (zero padding ``pad``).

    Up to BAND_MAX_SIDE as two matrix products with banded matrices (forward and backward faster on the CPU than
    two depthwise convolutions for small images); above it the band's mostly-zero products cost more than the
    convolutions' work, which grows with the kernel, not the side.
    """
    if max(x.shape[-2:]) <= BAND_MAX_SIDE:
        h = _gauss_band(x.shape[-2], size, sigma, pad, str(x.device), x.dtype)
        w = _gauss_band(x.shape[-1], size, sigma, pad, str(x.device), x.dtype)
        return h.t() @ (x @ w)
    c = x.shape[1]
    k1d = _gauss_1d(size, sigma, str(x.device), x.dtype)  # cached: no host copy per call
    wx = k1d.view(1, 1, 1, size).expand(c, 1, 1, size)
    wy = k1d.view(1, 1, size, 1).expand(c, 1, size, 1)
    x = F.conv2d(x, wx, padding=(0, pad), groups=c)
    return F.conv2d(x, wy, padding=(pad, 0), groups=c)


def dssim_kernel_size(resolution: int, divisor: float = 11.6) -> int:
    """DFL's DSSIM filter size: int(resolution / 11.6) (and /23.2 for the second term at res >= 256)."""
    return max(1, int(resolution / divisor))


def dssim(a: torch.Tensor, b: torch.Tensor, kernel_size: int, sigma: float = 1.5, max_val: float = 1.0,
          k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Structural dissimilarity (1 − SSIM) / 2 per sample: Gaussian window (σ 1.5), VALID, mean over space and
    channels (DFL's nn.dssim)."""
    with torch.autocast(a.device.type, **_NO_AUTOCAST):
        a, b = _fp32(a, b)
        c = a.shape[1]
        stats = _separable(torch.cat([a, b, a * b, a * a + b * b], dim=1), max(1, int(kernel_size)), float(sigma))
        mu_a, mu_b, e_ab, e_sq = stats.split(c, dim=1)
        c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
        num0 = mu_a * mu_b * 2.0
        den0 = mu_a.square() + mu_b.square()
        luminance = (num0 + c1) / (den0 + c1)
        cs = (e_ab * 2.0 - num0 + c2) / (e_sq - den0 + c2)
        return (1.0 - (luminance * cs).mean(dim=(1, 2, 3))) / 2.0


def gaussian_blur(x: torch.Tensor, radius: float) -> torch.Tensor:
    """DFL's nn.gaussian_blur: σ = radius, kernel max(3, int(4σ)) made odd, zero padding, same size out."""
    with torch.autocast(x.device.type, **_NO_AUTOCAST):
        (x,) = _fp32(x)
        size = max(3, int(4 * radius))
        size += 1 - size % 2
        centre = size // 2
        return _separable(x, size, float(radius), pad=centre)


def blur_mask(mask: torch.Tensor, resolution: int, clip: bool = True) -> torch.Tensor:
    """The soft training mask: blurred with σ = max(1, res//32), then clip(0, 0.5)·2 (Quick96: no clip)."""
    m = gaussian_blur(mask, max(1, resolution // 32))
    return m.clamp(0.0, 0.5) * 2.0 if clip else m


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error per sample."""
    return (a.float() - b.float()).square().mean(dim=(1, 2, 3))


def mae(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per sample."""
    return (a.float() - b.float()).abs().mean(dim=(1, 2, 3))


def structure_loss(target: torch.Tensor, pred: torch.Tensor, resolution: int, two_scales: bool) -> torch.Tensor:
    """DFL's image term: 10·DSSIM(k=res/11.6), or 5·DSSIM(res/11.6) + 5·DSSIM(res/23.2) (res >= 256, AMP),
    plus 10·MSE."""
    if two_scales:
        loss = 5.0 * dssim(target, pred, dssim_kernel_size(resolution, 11.6))
        loss = loss + 5.0 * dssim(target, pred, dssim_kernel_size(resolution, 23.2))
    else:
        loss = 10.0 * dssim(target, pred, dssim_kernel_size(resolution, 11.6))
    return loss + 10.0 * mse(target, pred)


def eyes_mouth_loss(target: torch.Tensor, pred: torch.Tensor, em_mask: torch.Tensor) -> torch.Tensor:
    """300·mean|target·em − pred·em| (eyes_mouth_prio)."""
    return 300.0 * mae(target * em_mask, pred * em_mask)


def style_loss(content: torch.Tensor, style: torch.Tensor, blur_radius: float = 0.0,
               weight: float = 1.0) -> torch.Tensor:
    """Per-channel mean and deviation differences squared, summed over channels, ×weight/C (DFL's nn.style_loss)."""
    if blur_radius > 0:
        content, style = gaussian_blur(content, blur_radius), gaussian_blur(style, blur_radius)
    content, style = _fp32(content, style)
    c_var, c_mean = torch.var_mean(content, dim=(2, 3), unbiased=False)
    s_var, s_mean = torch.var_mean(style, dim=(2, 3), unbiased=False)
    c_std, s_std = torch.sqrt(c_var + 1e-5), torch.sqrt(s_var + 1e-5)
    loss = (c_mean - s_mean).square().sum(dim=1) + (c_std - s_std).square().sum(dim=1)
    return loss * (weight / content.shape[1])


def total_variation_mse(x: torch.Tensor) -> torch.Tensor:
    """Sum of squared neighbour differences per sample (DFL's nn.total_variation_mse)."""
    x = x.float()
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).square().sum(dim=(1, 2, 3))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).square().sum(dim=(1, 2, 3))
    return dx + dy


def blur_out_mask(image: torch.Tensor, mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """Outside the mask, replace pixels by a mask-normalised Gaussian blur (σ = res/128) of the background
    (DFL's blur_out_mask: the loss then ignores background detail near the face)."""
    radius = resolution / 128.0
    anti = 1.0 - mask
    blurred = gaussian_blur(image * anti, radius)
    weight = 1.0 - gaussian_blur(mask, radius)
    weight = torch.where(weight == 0, torch.ones_like(weight), weight)
    return image * mask + (blurred / weight) * anti


def bce_with_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean sigmoid cross-entropy against a constant label, per sample (DFL's DLoss)."""
    logits = logits.float()
    labels = torch.full_like(logits, float(target))
    loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return loss.flatten(1).mean(dim=1)
