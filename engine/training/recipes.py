"""What each model kind optimises (dfl.md §6-8): the generator loss of SAEHD, AMP and Quick96, and the losses
of the GAN patch discriminator and the true-face code discriminator.

Batches are ``{"src": {...}, "dst": {...}}`` with NCHW float tensors ``warped``, ``target``, ``mask`` (N,1,H,W)
and ``em_mask``. Per-sample loss vectors are summed over the batch for the gradient (DFL's TF gradient of a
loss vector) and averaged for display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.training import losses as L

Batch = dict[str, dict[str, torch.Tensor]]


@dataclass
class StepLosses:
    """The generator loss to back-propagate and what the discriminator steps need."""

    g_loss: torch.Tensor
    src: torch.Tensor  # per sample
    dst: torch.Tensor
    gan_pairs: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (real, fake) images
    codes: tuple[torch.Tensor, torch.Tensor] | None = None  # (src_code, dst_code)


class Recipe:
    """The loss recipe of one model kind with its options (pretrain turns off what DFL turns off)."""

    def __init__(self, kind: str, options: dict[str, Any]):
        """``options``: the kind's completed options (an option the kind's table lacks is off: Quick96 has no
        GAN, only SAEHD has the style and true-face powers); the rest comes from the kind's registration."""
        from engine.models.registry import spec

        facts = spec(kind).training
        self.kind = kind
        self.facts = facts
        self.res = int(options["resolution"])
        self.pretrain = bool(options.get("pretrain", False))
        self.masked = bool(options.get("masked_training", True))
        self.two_scales = facts.always_two_scales or self.res >= 256
        self.eyes = facts.always_eyes_mouth or bool(options.get("eyes_mouth_prio", False))
        self.clip_blur = facts.clip_mask_blur
        self.blur_out = bool(options.get("blur_out_mask", False))
        live = not self.pretrain
        self.face_style = float(options.get("face_style_power", 0.0)) / 100.0 if live else 0.0
        self.bg_style = float(options.get("bg_style_power", 0.0)) / 100.0 if live else 0.0
        is_df = str(options.get("archi", "")).startswith("df")
        self.true_face = float(options.get("true_face_power", 0.0)) if is_df and live else 0.0
        self.gan_power = float(options.get("gan_power", 0.0)) if live else 0.0

    def forward_kwargs(self) -> dict[str, Any]:
        """Extra outputs the losses need from SwapModel.forward (the swap only for the style losses)."""
        kw: dict[str, Any] = {"swap": self.face_style > 0 or self.bg_style > 0}
        if self.face_style > 0:
            kw["no_code_grad"] = True
        return kw

    def _side(self, target: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor, em: torch.Tensor,
              pred_mask: torch.Tensor, blur: torch.Tensor) -> torch.Tensor:
        if self.blur_out:
            target = L.blur_out_mask(target, mask, self.res)
        t, p = (target * blur, pred * blur) if self.masked else (target, pred)
        loss = L.structure_loss(t, p, self.res, self.two_scales)
        if self.eyes:
            loss = loss + L.eyes_mouth_loss(target, pred, em)
        return loss + 10.0 * L.mse(mask, pred_mask)

    def generator(self, out: dict[str, torch.Tensor], batch: Batch,
                  code_discriminator: nn.Module | None = None) -> StepLosses:
        s, d = batch["src"], batch["dst"]
        srcm_blur = L.blur_mask(s["mask"], self.res, self.clip_blur)
        dstm_blur = L.blur_mask(d["mask"], self.res, self.clip_blur)
        src = self._side(s["target"], out["pred_src_src"], s["mask"], s["em_mask"], out["pred_src_srcm"], srcm_blur)
        dst = self._side(d["target"], out["pred_dst_dst"], d["mask"], d["em_mask"], out["pred_dst_dstm"], dstm_blur)
        if self.face_style > 0:
            content = out["pred_src_dst_no_code_grad"] * out["pred_src_dstm"].detach()
            style = (out["pred_dst_dst"] * out["pred_dst_dstm"]).detach()
            src = src + L.style_loss(content, style, self.res // 8, 10000.0 * self.face_style)
        if self.bg_style > 0:
            anti = 1.0 - srcm_blur  # DFL uses the src target's mask here (code quirk kept)
            psd, td = out["pred_src_dst"] * anti, d["target"] * anti
            w = 10.0 * self.bg_style
            src = src + w * L.dssim(psd, td, L.dssim_kernel_size(self.res)) + w * L.mse(psd, td)
        extra = torch.zeros_like(src)
        if self.facts.dst_background_loss:
            anti_d = 1.0 - dstm_blur
            bg_pred = out["pred_dst_dst"] * anti_d
            dst = dst + 0.1 * L.mse(bg_pred, d["target"] * anti_d) + 1e-6 * L.total_variation_mse(bg_pred)
        result = StepLosses(g_loss=torch.zeros(()), src=src, dst=dst)
        if self.true_face > 0 and code_discriminator is not None:
            result.codes = (out["src_code"], out["dst_code"])
            extra = extra + self.true_face * L.bce_with_logits(code_discriminator(out["src_code"]), 1.0)
        if self.gan_power > 0:
            sides = [("src", srcm_blur)] + ([("dst", dstm_blur)] if self.facts.gan_on_dst else [])
            for side, blur in sides:
                real = batch[side]["target"] * blur if self.masked else batch[side]["target"]
                fake = out[f"pred_{side}_{side}"] * blur if self.masked else out[f"pred_{side}_{side}"]
                result.gan_pairs.append((real, fake))
        result.g_loss = (src + dst + extra).sum()
        return result

    def gan_generator_loss(self, gan: nn.Module, terms: StepLosses, out: dict[str, torch.Tensor],
                           batch: Batch) -> torch.Tensor:
        """gan_power·Σ BCE(1, D(fake)) (+ DFL's TV and background terms that keep GAN dots away)."""
        total = torch.zeros((), device=terms.src.device)
        for _real, fake in terms.gan_pairs:
            centre, full = gan(fake)
            total = total + self.gan_power * (L.bce_with_logits(centre, 1.0) + L.bce_with_logits(full, 1.0)).sum()
        if self.masked:
            s = batch["src"]
            anti = 1.0 - L.blur_mask(s["mask"], self.res, self.clip_blur)
            total = total + (1e-6 * L.total_variation_mse(out["pred_src_src"])).sum()
            total = total + (0.02 * L.mse(out["pred_src_src"] * anti, s["target"] * anti)).sum()
        return total

    def gan_discriminator_loss(self, gan: nn.Module, terms: StepLosses) -> torch.Tensor:
        """½[BCE(1, D(real)) + BCE(0, D(fake))] for the centre and the per-pixel outputs (AMP: mean of 8)."""
        parts = []
        for real, fake in terms.gan_pairs:
            rc, rf = gan(real.detach())
            fc, ff = gan(fake.detach())
            parts.append((L.bce_with_logits(rc, 1.0) + L.bce_with_logits(fc, 0.0)) * 0.5
                         + (L.bce_with_logits(rf, 1.0) + L.bce_with_logits(ff, 0.0)) * 0.5)
        loss = torch.stack(parts).sum(dim=0)
        if self.facts.gan_on_dst:
            loss = loss / 4.0  # eight BCE terms averaged
        return loss.sum()

    def code_discriminator_loss(self, code_discriminator: nn.Module, terms: StepLosses) -> torch.Tensor:
        """½[BCE(1, D(dst_code)) + BCE(0, D(src_code))] (true face)."""
        assert terms.codes is not None
        src_code, dst_code = (c.detach() for c in terms.codes)
        loss = (L.bce_with_logits(code_discriminator(dst_code), 1.0)
                + L.bce_with_logits(code_discriminator(src_code), 0.0)) * 0.5
        return loss.sum()
