"""DFL's AMP model (dfl.md §7): one encoder with a dense head, inter_src / inter_dst, one shared decoder.

Training code of src = inter_src(e_src)·B + inter_dst(e_src)·(1−B), with B a per-sample random channel mask
holding exactly int(inter_dims·morph_factor) ones; dst code = inter_dst(e_dst). The swap at morph value v
takes the first int(inter_dims·v) channels from inter_src(e_dst) and the rest from inter_dst(e_dst).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.models.archi import Decoder, Encoder
from engine.models.base import SwapModel, as_float, decode_shared
from engine.models.options import COMMON, CT_CLIP, DIMS, FLIPS, SAMPLING, face_type, gan_options
from engine.models.registry import TrainingFacts, register_model
from engine.options import Option

# DFL's merger asks for the morph factor with this default (DeepFaceLive defaults to 0.75)
DEFAULT_MORPH_VALUE = 1.0


class AMPEncoder(Encoder):
    """SAEHD's ``t`` encoder, pixel-norm, then Dense(F, ae) (key ``dense1`` inside the encoder)."""

    def __init__(self, in_ch: int, e_ch: int, ae_ch: int, resolution: int):
        super().__init__(in_ch, e_ch, "ut")
        self.dense1 = nn.Linear(self.out_ch * (resolution // 32) ** 2, ae_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense1(super().forward(x))


class AMPInter(nn.Module):
    """Dense(ae, L²·inter_dims) (key ``dense2``) reshaped to (inter_dims, L, L); no Up, no activation."""

    def __init__(self, ae_ch: int, inter_ch: int, low_res: int):
        super().__init__()
        self.inter_ch = inter_ch
        self.low_res = low_res
        self.dense2 = nn.Linear(ae_ch, low_res * low_res * inter_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense2(x).reshape(-1, self.inter_ch, self.low_res, self.low_res)


def random_morph_mask(batch: int, channels: int, morph_factor: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch, channels) float mask with exactly int(channels·morph_factor) ones per row, at random places."""
    ranks = torch.rand(batch, channels, generator=generator).argsort(dim=1)
    return (ranks < int(channels * morph_factor)).float()


class AMPModel(SwapModel):
    _channel_index: torch.Tensor

    """AMP: parts encoder, inter_src, inter_dst, decoder; DFL trains only encoder and decoder."""

    kind = "amp"
    PART_NAMES = ("encoder", "inter_src", "inter_dst", "decoder")
    RESET_ALIASES = {"inter": ("inter_src", "inter_dst")}

    def __init__(self, options: dict[str, Any]):
        super().__init__(options)
        res, inter = self.resolution, options["inter_dims"]
        self.inter_dims = inter
        self.encoder = AMPEncoder(3, options["e_dims"], options["ae_dims"], res)
        self.inter_src = AMPInter(options["ae_dims"], inter, res // 32)
        self.inter_dst = AMPInter(options["ae_dims"], inter, res // 32)
        self.decoder = Decoder(inter, options["d_dims"], options["d_mask_dims"], "dt")
        self.register_buffer("_channel_index", torch.arange(inter, dtype=torch.float32), persistent=False)
        self.initialize()

    @property
    def archi(self) -> str:
        return "amp"

    @property
    def code_res(self) -> int:
        return self.resolution // 32

    def trainable_parts(self) -> list[str]:
        """DFL (HEAD) optimises encoder and decoder only; the inters stay at their initial values."""
        return ["encoder", "decoder"]

    def morph_code(self, src_code: torch.Tensor, dst_code: torch.Tensor,
                   morph_value: torch.Tensor | float | None) -> torch.Tensor:
        """First int(inter_dims·v) channels from ``src_code``, the rest from ``dst_code`` (v clipped to 0..1)."""
        v = DEFAULT_MORPH_VALUE if morph_value is None else morph_value
        v = torch.as_tensor(v, dtype=torch.float32, device=src_code.device).reshape(-1)[:1].clamp(0.0, 1.0)
        cut = torch.floor(v * float(self.inter_dims))
        keep = (self._channel_index < cut).to(src_code.dtype).reshape(1, -1, 1, 1)
        return src_code * keep + dst_code * (1 - keep)

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, morph_mask: torch.Tensor | None = None,
                *, swap: bool = True, morph_value: torch.Tensor | float | None = None) -> dict[str, torch.Tensor]:
        """Training graph. ``morph_mask`` (N, inter_dims) of 0/1 is drawn as DFL draws it when not given."""
        n = warped_src.shape[0]
        enc = self.encoder(torch.cat([warped_src, warped_dst]))
        src_enc, dst_enc = enc[:n], enc[n:]
        src_is = self.inter_src(src_enc)
        dst_inter = self.inter_dst(enc)
        src_id, dst_id = dst_inter[:n], dst_inter[n:]
        if morph_mask is None:
            morph_mask = random_morph_mask(n, self.inter_dims, float(self.options["morph_factor"]))
        b = morph_mask.to(device=src_is.device, dtype=src_is.dtype).reshape(n, -1, 1, 1)
        swap_code = self.morph_code(self.inter_src(dst_enc), dst_id, morph_value) if swap else None
        return as_float(decode_shared(self.decoder, src_is * b + src_id * (1 - b), dst_id, swap_code))

    def swap(self, in_face: torch.Tensor, morph_value: torch.Tensor | float | None = None,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc = self.encoder(in_face)
        dst_code = self.inter_dst(enc)
        face, celeb_mask = self.decoder(self.morph_code(self.inter_src(enc), dst_code, morph_value))
        return self.decoder.mask(dst_code), face, celeb_mask


AMP_OPTIONS: list[Option] = [
    *COMMON,
    *FLIPS,
    Option("batch_size", 8, "samples per iteration", low=1, high=512),
    Option("resolution", 224, "face size in px; floored to a multiple of 32", low=64, high=640),
    face_type("wf", ("f", "wf", "head"), "face type of the model: f, wf, head (default: the src faceset's)"),
    Option("ae_dims", 256, "autoencoder dimensions", low=32, high=1024),
    Option("inter_dims", 1024, "inter dimensions (channels of the code)", low=32, high=2048),
    *DIMS,
    Option("morph_factor", 0.5, "share of code channels mixed between identities in training", low=0.1, high=0.5),
    *SAMPLING,
    *CT_CLIP,
    *gan_options(28),
]
# DFL's AMP: eyes/mouth priority and two DSSIM scales always, dst background terms, GAN on both sides
_TRAINING = TrainingFacts(always_two_scales=True, always_eyes_mouth=True, dst_background_loss=True, gan_on_dst=True)


@register_model("amp", options=AMP_OPTIONS, dfl_class="AMP", training=_TRAINING, morph_input=True,
                fixed_at_creation=("resolution", "face_type", "ae_dims", "inter_dims", "e_dims", "d_dims",
                                   "d_mask_dims"))
def build_amp(options: dict[str, Any]) -> SwapModel:
    return AMPModel(options)
