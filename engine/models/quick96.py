"""Quick96: DeepFaceLab's fixed beginner model (DF-ud at 96 px, ae 128, e 64, d 64, d_mask 16, full face) —
the whole kind in one module: the model, its option table and its registration (dfl.md §8).
"""

from __future__ import annotations

from typing import Any

from engine.models.base import SwapModel
from engine.models.options import COMMON, face_type, fixed
from engine.models.registry import TrainingFacts, register_model
from engine.models.saehd import DFModel
from engine.options import Option


class Quick96Model(DFModel):
    """DFL's Quick96: SAEHD's DF network with the fixed options below."""

    kind = "quick96"


# DFL fixes everything but the training-loop questions
QUICK96_OPTIONS: list[Option] = [
    *COMMON,
    Option("batch_size", 4, "samples per iteration (DFL fixes 4)", low=1, high=512),
    fixed("resolution", 96, "face size in px"),
    face_type("f", ("f",), "face type (fixed)"),
    fixed("archi", "df-ud", "architecture"),
    fixed("ae_dims", 128, "autoencoder dimensions"),
    fixed("e_dims", 64, "encoder dimensions"),
    fixed("d_dims", 64, "decoder dimensions"),
    fixed("d_mask_dims", 16, "decoder mask dimensions"),
]
# RMSprop 2e-4 with lr dropout and no cosine, unclipped blurred mask, small scale jitter, no flips, every third
# iteration the previous batch again unwarped
_TRAINING = TrainingFacts(learning_rate=2e-4, fixed_optimizer="rmsprop", lr_cos_period=0, clip_mask_blur=False,
                          sample_scale=0.05, flips=False, unwarped_every=3)


@register_model("quick96", options=QUICK96_OPTIONS, dfl_class="Quick96", training=_TRAINING,
                fixed_at_creation=("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims"))
def build_quick96(options: dict[str, Any]) -> SwapModel:
    return Quick96Model(options)
