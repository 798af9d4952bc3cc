"""The option tables the worker publishes in ``hello``: what a host needs to build its controls.

Each table is a list of ``{"name", "type", "default", "help", "choices"?, "min"?, "max"?}`` (JSON), made from
engine :class:`~engine.options.Option` tables by :func:`engine.options.describe`. ``merge`` is the merge option
table (engine/swap/settings.py, the one source of names, ranges and defaults); ``render`` holds the render op's
own choices (execution provider, faces, passes, face type of a .dfm).
Hosts read them through host_kit/options.py.
"""

from __future__ import annotations

from typing import Any

from engine.options import Option, describe
from engine.swap.passes import DEFAULT_PASSES, EXR_LAYOUTS, PASSES

FACES_DEFAULT = "all"


def _published(entry: dict[str, Any]) -> dict[str, Any]:
    """One :func:`engine.options.describe` entry in the shape ``hello`` carries (range as ``min``/``max``,
    unset fields left out)."""
    out = {k: entry[k] for k in ("name", "type", "default", "help")}
    for key, name in (("choices", "choices"), ("low", "min"), ("high", "max")):
        if entry[key] is not None:
            out[name] = entry[key]
    return out


def render_options() -> list[Option]:
    """The render op's own parameters a host shows (execution provider, faces, passes, face type of a .dfm)."""
    from engine.faces.facetype import FaceType
    from engine.swap.onnx_model import PROVIDER_CHOICES

    face_types = [t.label for t in FaceType if t is not FaceType.MARK_ONLY]
    return [
        Option("provider", "auto", "ONNX Runtime execution provider (auto = best available)",
               choices=list(PROVIDER_CHOICES)),
        Option("faces", FACES_DEFAULT, "faces to replace: all, largest, or names from the track (face0,face1)",
               choices=["all", "largest"]),
        Option("passes", ",".join(DEFAULT_PASSES), "EXR passes to write", choices=list(PASSES)),
        Option("exr_layout", "parts", "pass file layout: parts (image passes half, ids 32-bit in a second part) or "
               "single (one 32-bit part, for Fusion's Cryptomatte fuse)", choices=list(EXR_LAYOUTS)),
        Option("face_type", "auto", "face type of a .dfm without metadata (auto = from the model)",
               choices=["auto", *face_types]),
    ]


def option_tables() -> dict[str, list[dict[str, Any]]]:
    """Every table ``hello`` publishes."""
    from engine.swap.settings import MERGE_OPTIONS

    return {name: [_published(d) for d in describe(table)]
            for name, table in (("merge", MERGE_OPTIONS), ("render", render_options()))}
