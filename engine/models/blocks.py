"""DeepFaceLab's building blocks in PyTorch (dfl.md §6): Down, Up (DCR depth-to-space), Res, pixel-norm.

Every conv and dense has a bias, there are no norm layers. ``use_cos`` is archi letter ``c``: every
LeakyReLU becomes x·cos(x). Submodule names follow DFL's variable names (``conv1``, ``conv2``, ``downs``),
so a state_dict key is DFL's weight key with ``/`` -> ``.`` (see engine/models/naming.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def activation(x: torch.Tensor, slope: float, use_cos: bool) -> torch.Tensor:
    """LeakyReLU(slope), or x·cos(x) for archi letter ``c``."""
    if use_cos:
        return x * torch.cos(x)
    return F.leaky_relu(x, slope)


def depth_to_space_dcr(x: torch.Tensor, block: int = 2) -> torch.Tensor:
    """TF's depth_to_space (DCR order): out[c, by+a, bx+b] = in[(a·block+b)·C_out + c, y, x].

    ``torch.pixel_shuffle`` uses the other order (CRD, in[c·block²+a·block+b]), so reshape/permute here.
    """
    n, c, h, w = x.shape
    oc = c // (block * block)
    x = x.reshape(n, block, block, oc, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, oc, h * block, w * block)


def dcr_to_crd_channels(out_ch: int, block: int = 2) -> torch.Tensor:
    """Index that reorders a DCR conv's output channels so ``pixel_shuffle`` gives the DCR result."""
    idx = torch.arange(out_ch * block * block).reshape(block * block, out_ch)
    return idx.t().reshape(-1)


def pixel_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x·rsqrt(mean(x²) + eps) over all features of a flattened (N, F) tensor (archi letter ``u``)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def conv2d(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A conv with leras' "SAME": symmetric zero padding k//2 on every side (not TF-SAME's split)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


def joined_convs(convs: list[nn.Conv2d], x: torch.Tensor) -> torch.Tensor:
    """``torch.cat([c(x) for c in convs], 1)`` as one convolution: each kernel zero-padded to the largest
    (centred, so a 1×1 stays a 1×1) and the kernels joined along the output channels.

    For :func:`conv2d` layers of stride 1 with biases. Several narrow convs of one input (the 3-channel
    output convs of a ``d`` decoder) cost several times the one wide conv on the CPU: each has its own
    forward and backward passes over the same input. The ONNX exporter needs a kernel of known shape: it gets
    the separate convs.
    """
    if torch.onnx.is_in_onnx_export():
        return torch.cat([c(x) for c in convs], dim=1)
    size = max(c.kernel_size[0] for c in convs)
    weights = [F.pad(c.weight, [(size - c.kernel_size[0]) // 2] * 4) for c in convs]
    bias = torch.cat([c.bias for c in convs if c.bias is not None])
    return F.conv2d(x, torch.cat(weights), bias, padding=size // 2)


class Down(nn.Module):
    """conv k×k stride 2 -> LeakyReLU 0.1 (DFL ``Downscale``); side n -> ceil(n/2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 5, use_cos: bool = False):
        super().__init__()
        self.use_cos = use_cos
        self.conv1 = conv2d(in_ch, out_ch, kernel_size, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activation(self.conv1(x), 0.1, self.use_cos)


class DownBlock(nn.Module):
    """``n`` Downs with channels ch·min(2^i, 8) (DFL ``DownscaleBlock``, keys ``downs_<i>``)."""

    def __init__(self, in_ch: int, ch: int, n_downscales: int, kernel_size: int = 5, use_cos: bool = False):
        super().__init__()
        chans = [in_ch] + [ch * min(2**i, 8) for i in range(n_downscales)]
        self.downs = nn.ModuleList(Down(a, b, kernel_size, use_cos) for a, b in zip(chans, chans[1:], strict=False))
        self.out_ch = chans[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down in self.downs:
            x = down(x)
        return x


class Up(nn.Module):
    _crd_index: torch.Tensor

    """conv 3×3 to 4·out -> LeakyReLU 0.1 -> depth-to-space ×2 in DCR order (DFL ``Upscale``).

    The weight stays in DFL's DCR channel order (so weights import by a plain rename). In ``crd`` mode the
    conv's output channels are gathered into pixel_shuffle's order first, which exports to one ONNX
    DepthToSpace and is faster on some backends; both modes give the same numbers.
    """

    crd: bool = False

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, use_cos: bool = False):
        super().__init__()
        self.use_cos = use_cos
        self.out_ch = out_ch
        self.conv1 = conv2d(in_ch, out_ch * 4, kernel_size)
        self.register_buffer("_crd_index", dcr_to_crd_channels(out_ch), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.crd:
            w = self.conv1.weight.index_select(0, self._crd_index)
            b = self.conv1.bias.index_select(0, self._crd_index) if self.conv1.bias is not None else None
            y = F.conv2d(x, w, b, padding=self.conv1.padding)
            return F.pixel_shuffle(activation(y, 0.1, self.use_cos), 2)
        return depth_to_space_dcr(activation(self.conv1(x), 0.1, self.use_cos), 2)


class Res(nn.Module):
    """conv3×3 -> LReLU 0.2 -> conv3×3 -> + input -> LReLU 0.2 (DFL ``ResidualBlock``)."""

    def __init__(self, ch: int, kernel_size: int = 3, use_cos: bool = False):
        super().__init__()
        self.use_cos = use_cos
        self.conv1 = conv2d(ch, ch, kernel_size)
        self.conv2 = conv2d(ch, ch, kernel_size)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = activation(self.conv1(inp), 0.2, self.use_cos)
        x = self.conv2(x)
        return activation(inp + x, 0.2, self.use_cos)


def init_dfl_(module: nn.Module) -> nn.Module:
    """DFL's initialisation: Glorot-uniform kernels (conv, conv-transpose, dense), zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            fan_a, fan_b = m.weight.shape[0], m.weight.shape[1]
            receptive = math.prod(m.weight.shape[2:])
            limit = math.sqrt(6.0 / ((fan_a + fan_b) * receptive))
            with torch.no_grad():
                m.weight.uniform_(-limit, limit)
                if m.bias is not None:
                    m.bias.zero_()
    return module


def set_crd_mode(module: nn.Module, enabled: bool) -> None:
    """Switch every ``Up`` in ``module`` between the DCR permute and the pixel_shuffle path."""
    for m in module.modules():
        if isinstance(m, Up):
            m.crd = enabled
