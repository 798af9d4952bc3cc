"""Model registry in timm's style: each model kind registers, in its own module, its builder together with every
fact the other stages need (option table, creation-time options, learning rate and loss recipe, export
signature, DeepFaceLab class name); plus named configs (kind + options).

``build_model("saehd", {...})`` completes the options as DFL does (engine.models.options.normalize_options)
and calls the registered builder; ``build_model("saehd_64_liae_ud")`` builds a registered config.
Adding a model kind = one module that defines the model and calls :func:`register_model`, plus its import in
``engine/models/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import FacecompError

if TYPE_CHECKING:
    from engine.models.base import SwapModel
    from engine.options import Option

Builder = Callable[[dict[str, Any]], "SwapModel"]


@dataclass(frozen=True)
class TrainingFacts:
    """How the trainer treats a kind (dfl.md §6-8): optimizer, learning rate and what its loss recipe adds."""

    learning_rate: float = 5e-5
    fixed_optimizer: str | None = None  # e.g. "rmsprop" (Quick96: fixed, lr dropout on, no cosine); None = options
    lr_cos_period: int = 500  # cosine period with lr_dropout
    always_two_scales: bool = False  # DSSIM at two kernel sizes whatever the resolution (AMP)
    always_eyes_mouth: bool = False  # eyes/mouth priority always on (AMP)
    clip_mask_blur: bool = True  # blurred loss mask clipped x2 (all but Quick96)
    dst_background_loss: bool = False  # AMP's dst background MSE + TV terms
    gan_on_dst: bool = False  # GAN on the dst side too, discriminator terms averaged (AMP)
    sample_scale: float = 0.15  # random scale range of the sample warp (Quick96: 0.05)
    flips: bool = True  # random flips allowed (Quick96: never)
    unwarped_every: int = 0  # re-use the previous batch unwarped every N iterations (Quick96: 3)


@dataclass(frozen=True)
class ModelSpec:
    """Everything facecomp knows about one model kind."""

    kind: str
    build: Builder
    options: Sequence[Option]
    fixed_at_creation: tuple[str, ...]
    dfl_class: str  # DeepFaceLab's model class name (``SAEHD`` -> SAEHD_data.dat)
    training: TrainingFacts = field(default_factory=TrainingFacts)
    morph_input: bool = False  # the exported DFM takes a second input morph_value (AMP)


_SPECS: dict[str, ModelSpec] = {}
_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {}


def register_model(kind: str, *, options: Sequence[Option], fixed_at_creation: Sequence[str], dfl_class: str,
                   training: TrainingFacts | None = None, morph_input: bool = False) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn(options) -> SwapModel`` as the builder of ``kind`` with the kind's facts."""

    def deco(fn: Builder) -> Builder:
        _SPECS[kind] = ModelSpec(kind, fn, tuple(options), tuple(fixed_at_creation), dfl_class,
                                 training or TrainingFacts(), morph_input)
        return fn

    return deco


def kinds() -> tuple[str, ...]:
    """The registered model kinds, in registration order."""
    return tuple(_SPECS)


def spec(kind: str) -> ModelSpec:
    """The registration of ``kind`` (case-insensitive), or a clear error."""
    k = str(kind).strip().lower()
    if k not in _SPECS:
        raise FacecompError(f"unknown model kind {kind!r}; use one of {', '.join(_SPECS)}")
    return _SPECS[k]


def register_config(name: str, kind: str, **options: Any) -> None:
    """A named configuration (a kind and option overrides), e.g. DFL's benchmark configs."""
    _CONFIGS[name] = (kind, dict(options))


def list_models() -> list[str]:
    """Registered kinds and config names."""
    return sorted(_SPECS) + sorted(_CONFIGS)


def config(name: str) -> tuple[str, dict[str, Any]]:
    """(kind, options) of a registered config."""
    if name not in _CONFIGS:
        raise FacecompError(f"unknown model config {name!r}; known: {', '.join(sorted(_CONFIGS))}")
    kind, opts = _CONFIGS[name]
    return kind, dict(opts)


def build_model(kind: str, options: dict[str, Any] | None = None, explicit: set[str] | None = None) -> SwapModel:
    """A freshly initialised model of ``kind`` (or a config name) with ``options`` completed as DFL does.

    Option values are checked; keys this version does not know are ignored (stored options of another version).
    """
    from engine.models.options import normalize_options

    opts = dict(options or {})
    if kind in _CONFIGS:
        kind, base = config(kind)
        opts = {**base, **opts}
    model_spec = spec(kind)
    return model_spec.build(normalize_options(model_spec.kind, opts, explicit, strict=False))
