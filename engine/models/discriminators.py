"""DFL's discriminators (dfl.md §6): the U-Net patch discriminator (GAN) and the code (true-face) discriminator.

Layer names follow DFL's keys (``in_conv``, ``convs_<i>``, ``upconvs_<i>``, ``center_out``, ``center_conv``,
``out_conv``), so weights import by the rule in engine/models/naming.py.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.models.blocks import conv2d, init_dfl_


def receptive_field(layers: list[tuple[int, int]]) -> int:
    """Receptive field of stacked (kernel, stride) convs."""
    rf, step = 0, 1
    for i, (k, s) in enumerate(layers):
        rf = k if i == 0 else rf + (k - 1) * step
        step *= s
    return rf


def patch_layers(patch_size: int, max_layers: int = 9) -> list[tuple[int, int]]:
    """DFL's layer choice: 3×3 convs, first stride 2, the rest stride 1 or 2, with the receptive field
    nearest ``patch_size``; per field the fewest layers win, then the larger sum of strides."""
    best: dict[int, tuple[int, int, list[tuple[int, int]]]] = {}
    for count in range(1, max_layers + 1):
        for bits in range((1 << (count - 1)) - 1, -1, -1):
            layers = [(3, 2)] + [(3, 2 if bits & (1 << i) else 1) for i in range(count - 1)]
            total = sum(s for _, s in layers)
            rf = receptive_field(layers)
            old = best.get(rf)
            if old is None or count < old[0] or (count == old[0] and total > old[1]):
                best[rf] = (count, total, layers)
    fields = sorted(best)
    nearest = fields[int(np.abs(np.array(fields) - patch_size).argmin())]
    return best[nearest][2]


class ConvTransposeSame(nn.ConvTranspose2d):
    """TF conv2d_transpose with "SAME" padding: output side = input side × stride.

    PyTorch's full transposed conv is cropped by (k−s)//2 at the start (TF puts the odd pixel at the end).
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        y = F.conv_transpose2d(x, self.weight, self.bias, self.stride)
        k, s = self.kernel_size[0], self.stride[0]
        start = max(k - s, 0) // 2
        h, w = x.shape[2] * s, x.shape[3] * s
        return y[:, :, start:start + h, start:start + w]


class UNetPatchDiscriminator(nn.Module):
    """U-Net patch discriminator: returns (centre logits, per-pixel logits)."""

    def __init__(self, patch_size: int, in_ch: int = 3, base_ch: int = 16):
        super().__init__()
        layers = patch_layers(patch_size)
        self.layers = layers
        chans = [min(base_ch * 2**i, 512) for i in range(len(layers) + 1)]  # chans[i] = DFL level_chs[i-1]
        self.in_conv = nn.Conv2d(in_ch, chans[0], 1)
        self.convs = nn.ModuleList(conv2d(chans[i], chans[i + 1], k, s) for i, (k, s) in enumerate(layers))
        ups: list[nn.Module] = []
        for i, (k, s) in enumerate(layers):
            width = chans[i + 1] * (1 if i == len(layers) - 1 else 2)
            ups.insert(0, ConvTransposeSame(width, chans[i], k, stride=s))
        self.upconvs = nn.ModuleList(ups)
        self.out_conv = nn.Conv2d(chans[0] * 2, 1, 1)
        self.center_out = nn.Conv2d(chans[-1], 1, 1)
        self.center_conv = nn.Conv2d(chans[-1], chans[-1], 1)
        init_dfl_(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.leaky_relu(self.in_conv(x), 0.2)
        skips: list[torch.Tensor] = []
        for conv in self.convs:
            skips.insert(0, x)
            x = F.leaky_relu(conv(x), 0.2)
        center = self.center_out(x)
        x = F.leaky_relu(self.center_conv(x), 0.2)
        for up, skip in zip(self.upconvs, skips, strict=True):
            x = torch.cat([skip, F.leaky_relu(up(x), 0.2)], dim=1)
        return center, self.out_conv(x)


class CodeDiscriminator(nn.Module):
    """True-face discriminator on the inter code: 1 + code_res//8 stride-2 convs (first 4×4, then 3×3),
    channels ch·min(2^i, 8), LeakyReLU 0.1, then a 1×1 conv to one logit map."""

    def __init__(self, in_ch: int, code_res: int, ch: int = 256):
        super().__init__()
        convs, prev = [], in_ch
        for i in range(1 + code_res // 8):
            cur = ch * min(2**i, 8)
            convs.append(conv2d(prev, cur, 4 if i == 0 else 3, stride=2))
            prev = cur
        self.convs = nn.ModuleList(convs)
        self.out_conv = nn.Conv2d(prev, 1, 1)
        init_dfl_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.out_conv(x)
