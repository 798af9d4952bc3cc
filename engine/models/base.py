"""SwapModel: what every swap model (SAEHD, AMP, Quick96) offers the trainer, the exporter and the importer."""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from engine.errors import FacecompError
from engine.faces.facetype import FaceType
from engine.models.blocks import init_dfl_

# keys of SwapModel.forward's result
OUTPUT_KEYS = ("pred_src_src", "pred_src_srcm", "pred_dst_dst", "pred_dst_dstm", "pred_src_dst", "pred_src_dstm",
               "src_code", "dst_code")


class SwapModel(nn.Module, abc.ABC):
    """A DFL swap model. Inputs and outputs are NCHW float BGR in 0..1; masks are (N,1,H,W).

    Subclasses create their DFL parts as attributes named as DFL's weight files (``encoder``, ``inter``,
    ``inter_AB``, ``decoder_src`` ...), list them in ``PART_NAMES`` and implement ``forward`` and ``swap``.
    """

    kind: str = ""
    PART_NAMES: tuple[str, ...] = ()
    # aliases for reset_part: DFL's "delete inter" means inter (DF), inter_AB (LIAE), both inters (AMP)
    RESET_ALIASES: dict[str, tuple[str, ...]] = {}

    def __init__(self, options: dict[str, Any]):
        super().__init__()
        self.options = dict(options)
        self.resolution = int(options["resolution"])
        self.face_type = FaceType.parse(options["face_type"]).label

    @property
    def archi(self) -> str:
        return str(self.options.get("archi", self.kind))

    def parts(self) -> dict[str, nn.Module]:
        """DFL's parts in DFL's order (the weight files of a DFL model folder)."""
        return {name: getattr(self, name) for name in self.PART_NAMES}

    def trainable_parts(self) -> list[str]:
        """Parts the optimizer updates (DFL's src_dst_trainable_weights)."""
        return list(self.PART_NAMES)

    def reset_part(self, name: str) -> None:
        """Re-initialise a part (or an alias such as ``inter``) with DFL's initialisation."""
        names = self.RESET_ALIASES.get(name, (name,))
        for n in names:
            if n not in self.PART_NAMES:
                raise FacecompError(f"{self.kind} {self.archi} has no part {name!r}; parts: "
                                    f"{', '.join((*self.RESET_ALIASES, *self.PART_NAMES))}")
        for n in names:
            init_dfl_(getattr(self, n))

    def initialize(self) -> SwapModel:
        """DFL's initialisation of every part (Glorot-uniform kernels, zero biases)."""
        init_dfl_(self)
        return self

    @property
    @abc.abstractmethod
    def code_res(self) -> int:
        """Side of the inter's output (the true-face discriminator's input)."""

    @abc.abstractmethod
    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor,
                morph_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The trainer's pass over both sides: a dict with the tensors named in ``OUTPUT_KEYS``."""

    @abc.abstractmethod
    def swap(self, in_face: torch.Tensor, morph_value: torch.Tensor | float | None = None,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """DFM outputs for dst faces: (out_face_mask, out_celeb_face, out_celeb_face_mask), NCHW."""


def split2(x: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a batch made by ``torch.cat([a, b])`` with ``len(a) == n`` back into (a, b)."""
    return x[:n], x[n:]


def decode_shared(decoder: nn.Module, src_code: torch.Tensor, dst_code: torch.Tensor,
                  src_dst_code: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """One pass of a shared decoder (LIAE, AMP) over the stacked codes, split into the training outputs."""
    n = src_code.shape[0]
    codes = [src_code, dst_code] if src_dst_code is None else [src_code, dst_code, src_dst_code]
    img, msk = decoder(torch.cat(codes))
    out = {"src_code": src_code, "dst_code": dst_code}
    out["pred_src_src"], out["pred_src_srcm"] = img[:n], msk[:n]
    out["pred_dst_dst"], out["pred_dst_dstm"] = img[n:2 * n], msk[n:2 * n]
    if src_dst_code is not None:
        out["pred_src_dst"], out["pred_src_dstm"] = img[2 * n:], msk[2 * n:]
    return out


def as_float(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Outputs in float32 (autocast leaves bf16 results; losses want float32)."""
    return {k: v.float() for k, v in d.items()}


def parameter_summary(model: SwapModel) -> dict[str, Any]:
    """``{"total": N, "parts": {part: N}}`` over the DFL parts (what DFL's weight files hold)."""
    parts = {name: sum(p.numel() for p in part.parameters()) for name, part in model.parts().items()}
    return {"total": sum(parts.values()), "parts": parts}
