"""The option tables the worker publishes in ``hello``: what a host needs to build its controls.

Each table is a list of ``{"name", "type", "default", "help", "choices"?, "min"?, "max"?}`` (JSON). ``merge``
comes from the merge option table (engine/swap/settings.py, the one source of names, ranges and defaults);
``render`` holds the render op's own choices (execution provider, faces, passes, face type of a .dfm).
Hosts read them through host_kit/options.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.swap.passes import DEFAULT_PASSES, PASSES

FACES_DEFAULT = "all"


def _entry(name: str, default: Any, help_: str, choices: Iterable[Any] | None = None, low: float | None = None,
           high: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "type": type(default).__name__, "default": default, "help": help_}
    if choices is not None:
        entry["choices"] = list(choices)
    if low is not None:
        entry["min"] = low
    if high is not None:
        entry["max"] = high
    return entry


def merge_table() -> list[dict[str, Any]]:
    """The merge options, as `facecomp merge` and the settings file name them."""
    from engine.swap.settings import MERGE_OPTIONS

    return [_entry(o.name, o.default, o.help, o.choices, o.low, o.high) for o in MERGE_OPTIONS]


def render_table() -> list[dict[str, Any]]:
    """The render op's own parameters a host shows."""
    from engine.faces.facetype import FaceType
    from engine.swap.onnx_model import PROVIDER_CHOICES

    face_types = [t.label for t in FaceType if t is not FaceType.MARK_ONLY]
    return [
        _entry("provider", "auto", "ONNX Runtime execution provider (auto = best available)", PROVIDER_CHOICES),
        _entry("faces", FACES_DEFAULT, "faces to replace: all, largest, or names from the track (face0,face1)",
               ("all", "largest")),
        _entry("passes", ",".join(DEFAULT_PASSES), "EXR passes to write", PASSES),
        _entry("face_type", "auto", "face type of a .dfm without metadata (auto = from the model)",
               ["auto", *face_types]),
    ]


def option_tables() -> dict[str, list[dict[str, Any]]]:
    """Every table ``hello`` publishes."""
    return {"merge": merge_table(), "render": render_table()}
