"""SAEHD (archi df / liae with letters u, d, t, c) as DeepFaceLab builds it, with its option table.

DF: encoder -> inter -> decoder_src / decoder_dst; swap = decoder_src(inter(encoder(dst))).
LIAE: encoder -> inter_AB, inter_B -> one decoder on the channel concat of two inter outputs:
src = [AB(src), AB(src)], dst = [B(dst), AB(dst)], swap = [AB(dst), AB(dst)].
"""

from __future__ import annotations

from typing import Any

import torch

from engine.models.archi import Decoder, Encoder, Inter, lowest_dense_res, parse_archi
from engine.models.base import SwapModel, as_float, decode_shared, split2
from engine.models.options import COMMON, CT_CLIP, DIMS, FACE_TYPES, FLIPS, SAMPLING, face_type, gan_options
from engine.models.registry import register_model
from engine.options import Option


class _SAEHDBase(SwapModel):
    """What DF and LIAE share: the encoder."""

    def _encoder(self, options: dict[str, Any]) -> tuple[str, int, int, int]:
        """Create ``self.encoder``; returns (archi letters, ae_dims, flat code size F, dense side L)."""
        opts = parse_archi(options["archi"]).opts
        self.encoder = Encoder(3, options["e_dims"], opts)
        flat = self.encoder.out_ch * Encoder.out_side(self.resolution, opts) ** 2
        return opts, options["ae_dims"], flat, lowest_dense_res(self.resolution, opts)

    @property
    def code_res(self) -> int:
        """Side of the inter output (the true-face discriminator's input)."""
        return getattr(self, self.PART_NAMES[1]).out_res


class DFModel(_SAEHDBase):
    """SAEHD archi ``df`` (and Quick96): one inter, a decoder per identity."""

    kind = "saehd"
    PART_NAMES = ("encoder", "inter", "decoder_src", "decoder_dst")

    def __init__(self, options: dict[str, Any]):
        super().__init__(options)
        opts, ae, flat, low = self._encoder(options)
        self.inter = Inter(flat, ae, ae, low, opts)
        self.decoder_src = Decoder(ae, options["d_dims"], options["d_mask_dims"], opts)
        self.decoder_dst = Decoder(ae, options["d_dims"], options["d_mask_dims"], opts)
        self.initialize()

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, morph_mask: torch.Tensor | None = None,
                *, swap: bool = True, no_code_grad: bool = False) -> dict[str, torch.Tensor]:
        """Training graph; ``swap=False`` skips pred_src_dst* (DFL computes them only when a loss needs them)."""
        n = warped_src.shape[0]
        codes = self.inter(self.encoder(torch.cat([warped_src, warped_dst])))
        src_code, dst_code = split2(codes, n)
        img, msk = self.decoder_src(codes if swap else src_code)
        out = {"src_code": src_code, "dst_code": dst_code}
        out["pred_src_src"], out["pred_src_srcm"] = img[:n], msk[:n]
        if swap:
            out["pred_src_dst"], out["pred_src_dstm"] = img[n:], msk[n:]
        out["pred_dst_dst"], out["pred_dst_dstm"] = self.decoder_dst(dst_code)
        if no_code_grad:
            out["pred_src_dst_no_code_grad"] = self.decoder_src.image(dst_code.detach())
        return as_float(out)

    def swap(self, in_face: torch.Tensor, morph_value: torch.Tensor | float | None = None,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        code = self.inter(self.encoder(in_face))
        face, celeb_mask = self.decoder_src(code)
        return self.decoder_dst.mask(code), face, celeb_mask


class LIAEModel(_SAEHDBase):
    """SAEHD archi ``liae``: inter_AB (shared) and inter_B (dst), one decoder."""

    kind = "saehd"
    PART_NAMES = ("encoder", "inter_AB", "inter_B", "decoder")
    RESET_ALIASES = {"inter": ("inter_AB",)}

    def __init__(self, options: dict[str, Any]):
        super().__init__(options)
        opts, ae, flat, low = self._encoder(options)
        self.inter_AB = Inter(flat, ae, ae * 2, low, opts)
        self.inter_B = Inter(flat, ae, ae * 2, low, opts)
        self.decoder = Decoder(ae * 4, options["d_dims"], options["d_mask_dims"], opts)
        self.initialize()

    def trainable_parts(self) -> list[str]:
        """With random_warp off (forced off in pretrain) DFL freezes inter_AB."""
        random_warp = bool(self.options.get("random_warp", True)) and not bool(self.options.get("pretrain", False))
        return list(self.PART_NAMES) if random_warp else ["encoder", "inter_B", "decoder"]

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, morph_mask: torch.Tensor | None = None,
                *, swap: bool = True, no_code_grad: bool = False) -> dict[str, torch.Tensor]:
        """Training graph; ``swap=False`` skips pred_src_dst* (DFL computes them only when a loss needs them)."""
        n = warped_src.shape[0]
        enc = self.encoder(torch.cat([warped_src, warped_dst]))
        ab_src, ab_dst = split2(self.inter_AB(enc), n)
        b_dst = self.inter_B(enc[n:])
        src_dst_code = torch.cat([ab_dst, ab_dst], dim=1)
        out = decode_shared(self.decoder, torch.cat([ab_src, ab_src], dim=1), torch.cat([b_dst, ab_dst], dim=1),
                            src_dst_code if swap else None)
        if no_code_grad:
            out["pred_src_dst_no_code_grad"] = self.decoder.image(src_dst_code.detach())
        return as_float(out)

    def swap(self, in_face: torch.Tensor, morph_value: torch.Tensor | float | None = None,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc = self.encoder(in_face)
        ab = self.inter_AB(enc)
        dst_code = torch.cat([self.inter_B(enc), ab], dim=1)
        face, celeb_mask = self.decoder(torch.cat([ab, ab], dim=1))
        return self.decoder.mask(dst_code), face, celeb_mask


SAEHD_OPTIONS: list[Option] = [
    *COMMON,
    *FLIPS,
    Option("batch_size", 4, "samples per iteration (DFL suggests 8 on a GPU with >= 4 GB, else 4)", low=1, high=512),
    Option("resolution", 128, "face size in px; floored to a multiple of 16 (32 with archi d)", low=64, high=640),
    face_type("f", FACE_TYPES, "face type of the model: h, mf, f, wf, head (default: the src faceset's)"),
    Option("archi", "liae-ud", "df or liae, optionally - and letters from u, d, t, c (e.g. liae-udt)"),
    Option("ae_dims", 256, "autoencoder (bottleneck) dimensions", low=32, high=1024),
    *DIMS,
    Option("masked_training", True, "restrict the loss to the face mask"),
    Option("eyes_mouth_prio", False, "extra loss weight on eyes and mouth"),
    Option("adabelief", True, "AdaBelief optimizer (otherwise RMSprop)"),
    *SAMPLING,
    Option("random_hsv_power", 0.0, "random hue/saturation/value jitter of src", low=0.0, high=0.3),
    Option("true_face_power", 0.0, "true-face (code discriminator) power, df only", low=0.0, high=1.0),
    Option("face_style_power", 0.0, "face style loss power", low=0.0, high=100.0),
    Option("bg_style_power", 0.0, "background style loss power", low=0.0, high=100.0),
    *CT_CLIP,
    Option("pretrain", False, "pretraining mode on a generic faceset"),
    *gan_options(16),
]


@register_model("saehd", options=SAEHD_OPTIONS, dfl_class="SAEHD",
                fixed_at_creation=("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims"))
def build_saehd(options: dict[str, Any]) -> SwapModel:
    cls = LIAEModel if parse_archi(options["archi"]).type == "liae" else DFModel
    return cls(options)
