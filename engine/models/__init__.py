"""Swap models with DeepFaceLab's architectures: SAEHD (df/liae + u,d,t,c), AMP and Quick96.

    from engine.models import build_model, model_options, parameter_summary
    model = build_model("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 64})
"""

from __future__ import annotations

# each kind registers itself with its facts (one module per kind); registration order = MODEL_KINDS order
# isort: off
from engine.models import saehd as _saehd  # noqa: F401  (registers "saehd")
from engine.models import amp as _amp  # noqa: F401  (registers "amp")
from engine.models import quick96 as _quick96  # noqa: F401  (registers "quick96")
# isort: on
from engine.models.base import OUTPUT_KEYS, SwapModel, parameter_summary
from engine.models.options import architecture_options, model_options, normalize_options
from engine.models.registry import ModelSpec, build_model, kinds, list_models, register_config, register_model, spec

MODEL_KINDS = kinds()

# DFL's benchmark configurations (dfl_peer.md §1), handy for tests and bench/
_DIMS = {64: dict(ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16),
         96: dict(ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=22)}
for _res, _dims in _DIMS.items():
    for _archi in ("liae-ud", "df-ud"):
        register_config(f"saehd_{_res}_{_archi.replace('-', '_')}", "saehd", resolution=_res, archi=_archi, **_dims)

__all__ = ["MODEL_KINDS", "OUTPUT_KEYS", "ModelSpec", "SwapModel", "architecture_options", "build_model", "kinds",
           "list_models", "model_options", "normalize_options", "parameter_summary", "register_config",
           "register_model", "spec"]
