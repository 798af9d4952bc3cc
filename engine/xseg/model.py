"""DeepFaceLab's XSeg segmentation network (dfl.md §5) in PyTorch.

A U-Net on 3-channel BGR faces in 0..1 with ConvBlocks of conv 3x3 -> FRN -> TLU, blur-pool downsampling,
a dense bottleneck (flattened in C,H,W order), transposed-conv up blocks with TF "SAME" semantics, and a
3x3 output conv giving one logit channel. Module names follow DFL's weight keys mechanically
(``conv01/frn/eps:0`` <-> ``conv01.frn.eps``, see :mod:`engine.xseg.naming`), so DFL's ``XSeg_256.npy`` imports
by renaming. At 256 px and base 32 the network has exactly 17,569,317 parameters.

``resolution`` may be any multiple of 64 (DFL fixes 256); the dense bottleneck then has (res/64)^2*8*base inputs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import FacecompError

DEFAULT_RESOLUTION = 256
BASE_CH = 32


class FRNorm2D(nn.Module):
    """Filter response normalisation: x * rsqrt(mean_hw(x^2) + |eps|) * weight + bias (eps: one learned scalar)."""

    def __init__(self, ch: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))
        self.eps = nn.Parameter(torch.full((1,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nu2 = x.float().square().mean(dim=(2, 3), keepdim=True)
        x = x * torch.rsqrt(nu2 + self.eps.abs()).to(x.dtype)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class TLU(nn.Module):
    """Thresholded linear unit: max(x, tau) with tau per channel (computed as relu(x - tau) + tau: same values,
    a cheaper backward than torch.maximum)."""

    def __init__(self, ch: int):
        super().__init__()
        self.tau = nn.Parameter(torch.zeros(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tau = self.tau.view(1, -1, 1, 1).to(x.dtype)
        return F.relu(x - tau) + tau


class ConvBlock(nn.Module):
    """conv 3x3 (pad 1, bias) -> FRN -> TLU; 9io + 4o + 1 parameters."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.frn = FRNorm2D(out_ch)
        self.tlu = TLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tlu(self.frn(self.conv(x)))


class UpConvBlock(nn.Module):
    """Transposed conv 3x3 stride 2 with TF "SAME" output (the first 2H x 2W of padding-0 output) -> FRN -> TLU."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, 3, 2, 0)
        self.frn = FRNorm2D(out_ch)
        self.tlu = TLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        y = self.conv(x)[:, :, : 2 * h, : 2 * w]
        return self.tlu(self.frn(y))


def _binomial(n: int) -> np.ndarray:
    return np.array([math.comb(n - 1, k) for k in range(n)], np.float64)


class BlurPool(nn.Module):
    kernel: torch.Tensor

    """Anti-aliased stride-2 downsampling: zero pad [(n-1)//2, ceil((n-1)/2)], depthwise normalised binomial."""

    def __init__(self, filt_size: int, ch: int):
        super().__init__()
        a = _binomial(filt_size)
        k = np.outer(a, a)
        k /= k.sum()
        kernel = torch.tensor(k, dtype=torch.float32)[None, None].repeat(ch, 1, 1, 1)
        self.register_buffer("kernel", kernel, persistent=False)
        self.ch = ch
        self.pad = ((filt_size - 1) // 2, math.ceil((filt_size - 1) / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad[0], self.pad[1], self.pad[0], self.pad[1]))
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.ch)


def _blocks(ch: int, n: int) -> list[ConvBlock]:
    return [ConvBlock(ch, ch) for _ in range(n)]


class XSegNet(nn.Module):
    """DFL's XSeg U-Net. ``forward`` returns logits (N,1,H,W); :meth:`mask` returns sigmoid probabilities."""

    def __init__(self, resolution: int = DEFAULT_RESOLUTION, base_ch: int = BASE_CH, in_ch: int = 3, out_ch: int = 1):
        super().__init__()
        check_resolution(resolution)
        self.resolution = resolution
        self.base_ch = base_ch
        b = base_ch
        self.conv01, self.conv02 = ConvBlock(in_ch, b), ConvBlock(b, b)
        self.bp0 = BlurPool(4, b)
        self.conv11, self.conv12 = ConvBlock(b, b * 2), ConvBlock(b * 2, b * 2)
        self.bp1 = BlurPool(3, b * 2)
        self.conv21, self.conv22 = ConvBlock(b * 2, b * 4), ConvBlock(b * 4, b * 4)
        self.bp2 = BlurPool(2, b * 4)
        self.conv31, self.conv32, self.conv33 = ConvBlock(b * 4, b * 8), *_blocks(b * 8, 2)
        self.bp3 = BlurPool(2, b * 8)
        self.conv41, self.conv42, self.conv43 = _blocks(b * 8, 3)
        self.bp4 = BlurPool(2, b * 8)
        self.conv51, self.conv52, self.conv53 = _blocks(b * 8, 3)
        self.bp5 = BlurPool(2, b * 8)
        self.side = resolution // 64
        flat = self.side * self.side * b * 8
        self.dense1 = nn.Linear(flat, 512)
        self.dense2 = nn.Linear(512, flat)
        self.up5 = UpConvBlock(b * 8, b * 4)
        self.uconv53, self.uconv52, self.uconv51 = ConvBlock(b * 12, b * 8), *_blocks(b * 8, 2)
        self.up4 = UpConvBlock(b * 8, b * 4)
        self.uconv43, self.uconv42, self.uconv41 = ConvBlock(b * 12, b * 8), *_blocks(b * 8, 2)
        self.up3 = UpConvBlock(b * 8, b * 4)
        self.uconv33, self.uconv32, self.uconv31 = ConvBlock(b * 12, b * 8), *_blocks(b * 8, 2)
        self.up2 = UpConvBlock(b * 8, b * 4)
        self.uconv22, self.uconv21 = ConvBlock(b * 8, b * 4), ConvBlock(b * 4, b * 4)
        self.up1 = UpConvBlock(b * 4, b * 2)
        self.uconv12, self.uconv11 = ConvBlock(b * 4, b * 2), ConvBlock(b * 2, b * 2)
        self.up0 = UpConvBlock(b * 2, b)
        self.uconv02, self.uconv01 = ConvBlock(b * 2, b), ConvBlock(b, b)
        self.out_conv = nn.Conv2d(b, out_ch, 3, 1, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform kernels and zero biases (TF's defaults, as DFL); FRN/TLU keep their own inits."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW BGR 0..1 faces -> NCHW logits (one channel)."""
        x = x0 = self.conv02(self.conv01(x))
        x = x1 = self.conv12(self.conv11(self.bp0(x)))
        x = x2 = self.conv22(self.conv21(self.bp1(x)))
        x = x3 = self.conv33(self.conv32(self.conv31(self.bp2(x))))
        x = x4 = self.conv43(self.conv42(self.conv41(self.bp3(x))))
        x = x5 = self.conv53(self.conv52(self.conv51(self.bp4(x))))
        x = self.bp5(x)
        x = self.dense2(self.dense1(x.flatten(1)))
        x = x.view(-1, self.base_ch * 8, self.side, self.side)
        x = self.uconv51(self.uconv52(self.uconv53(torch.cat([self.up5(x), x5], 1))))
        x = self.uconv41(self.uconv42(self.uconv43(torch.cat([self.up4(x), x4], 1))))
        x = self.uconv31(self.uconv32(self.uconv33(torch.cat([self.up3(x), x3], 1))))
        x = self.uconv21(self.uconv22(torch.cat([self.up2(x), x2], 1)))
        x = self.uconv11(self.uconv12(torch.cat([self.up1(x), x1], 1)))
        x = self.uconv01(self.uconv02(torch.cat([self.up0(x), x0], 1)))
        return self.out_conv(x)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """Sigmoid of the logits: NCHW mask in 0..1."""
        return torch.sigmoid(self.forward(x))


def check_resolution(resolution: int) -> int:
    """XSeg needs a side that survives six stride-2 pools: a multiple of 64, at least 64."""
    if resolution < 64 or resolution % 64:
        raise FacecompError(f"XSeg resolution must be a multiple of 64 (64, 128, 256, ...), got {resolution}")
    return resolution


def parameter_count(model: nn.Module) -> int:
    """Number of learned values (DFL counts the same: weights, biases, FRN weight/bias/eps, TLU tau)."""
    return sum(p.numel() for p in model.parameters())
