"""Model registry in timm's style: builders registered by kind, plus named configs (kind + options).

``build_model("saehd", {...})`` completes the options as DFL does (engine.models.options.normalize_options)
and calls the registered builder; ``build_model("saehd_64_liae_ud")`` builds a registered config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.errors import FacecompError

if TYPE_CHECKING:
    from engine.models.base import SwapModel

Builder = Callable[[dict[str, Any]], "SwapModel"]

_BUILDERS: dict[str, Builder] = {}
_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {}


def register_model(kind: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn(options) -> SwapModel`` as the builder of ``kind``."""

    def deco(fn: Builder) -> Builder:
        _BUILDERS[kind] = fn
        return fn

    return deco


def register_config(name: str, kind: str, **options: Any) -> None:
    """A named configuration (a kind and option overrides), e.g. DFL's benchmark configs."""
    _CONFIGS[name] = (kind, dict(options))


def list_models() -> list[str]:
    """Registered kinds and config names."""
    return sorted(_BUILDERS) + sorted(_CONFIGS)


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
    kind = kind.strip().lower()
    if kind not in _BUILDERS:
        raise FacecompError(f"unknown model kind {kind!r}; use one of {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[kind](normalize_options(kind, opts, explicit, strict=False))
