"""DFL's DeepFakeArchi (SAEHD and Quick96): Encoder, Inter and Decoder for archi letters u, d, t, c (dfl.md §6).

Shapes (R = resolution, L = R//32 with ``d`` else R//16):
- Encoder: 4 Downs (``t``: Down Res Down Down Down Down Res), flattened in (C,H,W) order; ``u`` pixel-norms it.
- Inter: Dense(F, ae) -> Dense(ae, L²·A) -> (A, L, L) -> Up(A, A) (no Up with ``t``).
- Decoder: image path Up/Res stages, a 1×1 head (``d``: four convs + depth-to-space ×2), sigmoid; a separate
  mask path of Ups fed from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.errors import FacecompError
from engine.models.blocks import Down, DownBlock, Res, Up, conv2d, depth_to_space_dcr, joined_convs, pixel_norm

ARCHI_TYPES = ("df", "liae")
ARCHI_LETTERS = "udtc"


@dataclass(frozen=True)
class Archi:
    """A parsed SAEHD ``archi`` string such as ``liae-udt``."""

    type: str
    opts: str

    @property
    def name(self) -> str:
        return self.type + (f"-{self.opts}" if self.opts else "")

    def has(self, letter: str) -> bool:
        return letter in self.opts


def parse_archi(archi: str) -> Archi:
    """``df``/``liae`` + optional ``-`` and letters from u, d, t, c (DFL's rule; stored in that order)."""
    text = str(archi).strip().lower()
    kind, dash, opts = text.partition("-")
    if kind not in ARCHI_TYPES:
        raise FacecompError(f"archi {archi!r}: type must be df or liae")
    if dash and not opts or any(c not in ARCHI_LETTERS for c in opts) or len(set(opts)) != len(opts):
        raise FacecompError(f"archi {archi!r}: options after '-' are letters from u, d, t, c, each at most once")
    return Archi(kind, "".join(c for c in ARCHI_LETTERS if c in opts))


def lowest_dense_res(resolution: int, opts: str) -> int:
    """L: the side of the dense code (R//32 with ``d``, else R//16)."""
    return resolution // (32 if "d" in opts else 16)


def check_resolution(resolution: int, opts: str) -> None:
    """R must be a multiple of 16, of 32 with ``d`` or ``t`` (with ``t`` and no ``d`` DFL fails at build)."""
    step = 32 if ("d" in opts or "t" in opts) else 16
    if resolution % step or resolution < step:
        raise FacecompError(f"resolution {resolution} must be a multiple of {step} for archi options {opts!r}")


class Encoder(nn.Module):
    """Image (N,3,R,R) -> flat code (N, 8e·side²); ``u`` applies pixel-norm."""

    def __init__(self, in_ch: int, e_ch: int, opts: str):
        super().__init__()
        self.opts = opts
        use_cos = "c" in opts
        if "t" in opts:
            self.down1: nn.Module = Down(in_ch, e_ch, 5, use_cos)
            self.res1 = Res(e_ch, use_cos=use_cos)
            self.down2 = Down(e_ch, e_ch * 2, 5, use_cos)
            self.down3 = Down(e_ch * 2, e_ch * 4, 5, use_cos)
            self.down4 = Down(e_ch * 4, e_ch * 8, 5, use_cos)
            self.down5 = Down(e_ch * 8, e_ch * 8, 5, use_cos)
            self.res5 = Res(e_ch * 8, use_cos=use_cos)
        else:
            self.down1 = DownBlock(in_ch, e_ch, 4, 5, use_cos)
        self.out_ch = e_ch * 8

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 4-D feature map before flattening."""
        if "t" in self.opts:
            x = self.res1(self.down1(x))
            x = self.down4(self.down3(self.down2(x)))
            return self.res5(self.down5(x))
        return self.down1(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).flatten(1)
        return pixel_norm(x) if "u" in self.opts else x

    @staticmethod
    def out_side(resolution: int, opts: str) -> int:
        return resolution // (32 if "t" in opts else 16)


class Inter(nn.Module):
    """Dense(F, ae) -> Dense(ae, L²·A) -> reshape (A, L, L) -> Up(A, A) unless ``t``."""

    def __init__(self, in_features: int, ae_ch: int, ae_out_ch: int, low_res: int, opts: str):
        super().__init__()
        self.opts = opts
        self.ae_out_ch = ae_out_ch
        self.low_res = low_res
        self.dense1 = nn.Linear(in_features, ae_ch)
        self.dense2 = nn.Linear(ae_ch, low_res * low_res * ae_out_ch)
        if "t" not in opts:
            self.upscale1 = Up(ae_out_ch, ae_out_ch, use_cos="c" in opts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x))
        x = x.reshape(-1, self.ae_out_ch, self.low_res, self.low_res)
        return x if "t" in self.opts else self.upscale1(x)

    @property
    def out_res(self) -> int:
        return self.low_res if "t" in self.opts else self.low_res * 2


class Decoder(nn.Module):
    """Code (N, C, s, s) -> (image (N,3,R,R), mask (N,1,R,R)), both sigmoid; two independent paths."""

    def __init__(self, in_ch: int, d_ch: int, d_mask_ch: int, opts: str):
        super().__init__()
        self.opts = opts
        use_cos = "c" in opts
        img = [d_ch * 8, d_ch * 8, d_ch * 4, d_ch * 2] if "t" in opts else [d_ch * 8, d_ch * 4, d_ch * 2]
        msk = [d_mask_ch * 8, d_mask_ch * 8, d_mask_ch * 4, d_mask_ch * 2] if "t" in opts else \
            [d_mask_ch * 8, d_mask_ch * 4, d_mask_ch * 2]
        if "d" in opts:
            msk.append(d_mask_ch)
        self.n_up = len(img)
        self.n_upm = len(msk)
        for i, (a, b) in enumerate(zip([in_ch, *img], img, strict=False)):
            self.add_module(f"upscale{i}", Up(a, b, use_cos=use_cos))
        for i, ch in enumerate(img):
            self.add_module(f"res{i}", Res(ch, use_cos=use_cos))
        for i, (a, b) in enumerate(zip([in_ch, *msk], msk, strict=False)):
            self.add_module(f"upscalem{i}", Up(a, b, use_cos=use_cos))
        self.out_conv = conv2d(d_ch * 2, 3, 1)
        if "d" in opts:
            self.out_conv1 = conv2d(d_ch * 2, 3, 3)
            self.out_conv2 = conv2d(d_ch * 2, 3, 3)
            self.out_conv3 = conv2d(d_ch * 2, 3, 3)
        self.out_convm = conv2d(msk[-1], 1, 1)

    def image(self, z: torch.Tensor) -> torch.Tensor:
        """The image path only (N,3,R,R)."""
        x = z
        for i in range(self.n_up):
            x = getattr(self, f"res{i}")(getattr(self, f"upscale{i}")(x))
        if "d" in self.opts:
            x = joined_convs([self.out_conv, self.out_conv1, self.out_conv2, self.out_conv3], x)
            x = depth_to_space_dcr(x, 2)
        else:
            x = self.out_conv(x)
        return torch.sigmoid(x)

    def mask(self, z: torch.Tensor) -> torch.Tensor:
        """The mask path only (N,1,R,R)."""
        m = z
        for i in range(self.n_upm):
            m = getattr(self, f"upscalem{i}")(m)
        return torch.sigmoid(self.out_convm(m))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(z), self.mask(z)
