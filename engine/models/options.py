"""Option tables of the swap models with DeepFaceLab's names, defaults and ranges (dfl.md §6-8).

The blocks shared by the kinds live here; each kind's table is registered with its builder (models/saehd.py,
amp.py, quick96.py). ``model_options(kind)`` gives the table (flags, config keys, ``--set``); ``normalize_options``
applies what DFL does after asking: derived defaults (d_mask_dims = d_dims//3 made even, gan_patch_size = res//8),
rounding (dims up to even, resolution down to a multiple of 16, of 32 with archi ``d``) and checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.errors import FacecompError
from engine.faces.facetype import SHORT_CHOICES
from engine.faces.facetype import aliases as face_type_aliases
from engine.models.archi import parse_archi
from engine.models.registry import spec
from engine.options import Option, resolve, unknown_option

FACE_TYPES = SHORT_CHOICES
# DFL stores the short names; every other name of a face type (whole_face, full ...) is accepted and stored short
_FACE_TYPE_ALIASES = face_type_aliases(to_short=True)
CT_MODES = ("none", "rct", "lct", "mkl", "idt", "sot")
LR_DROPOUT = ("n", "y", "cpu")

# shared by every kind (DFL's ModelBase questions)
COMMON = [
    Option("autobackup_hour", 0, "back the model up every N hours (0 = off)", low=0, high=24),
    Option("write_preview_history", False, "keep a preview image every few iterations in model/history/"),
    Option("target_iter", 0, "stop training at this iteration (0 = never)", low=0),
]
FLIPS = [
    Option("random_src_flip", False, "randomly flip src faces horizontally"),
    Option("random_dst_flip", True, "randomly flip dst faces horizontally"),
]


def gan_options(patch_default: int) -> list[Option]:
    return [
        Option("gan_power", 0.0, "GAN loss weight (0 = no GAN); train without it first", low=0.0, high=5.0),
        Option("gan_patch_size", patch_default, "GAN patch size (default resolution//8)", low=3, high=640),
        Option("gan_dims", 16, "GAN discriminator base channels", low=4, high=512),
    ]


DIMS = [
    Option("e_dims", 64, "encoder dimensions (rounded up to even)", low=16, high=256),
    Option("d_dims", 64, "decoder dimensions (rounded up to even)", low=16, high=256),
    Option("d_mask_dims", 22, "decoder mask dimensions (default d_dims//3 made even)", low=16, high=256),
]
SAMPLING = [
    Option("uniform_yaw", False, "sample faces evenly over yaw"),
    Option("blur_out_mask", False, "blur the background near the mask before the loss"),
    Option("lr_dropout", "n", "learning-rate dropout: n, y, cpu", choices=LR_DROPOUT),
    Option("random_warp", True, "random warp of the input faces"),
]
CT_CLIP = [
    Option("ct_mode", "none", "colour transfer of src samples toward dst", choices=CT_MODES),
    Option("clipgrad", False, "clip gradients (global norm 1.0)"),
]


def fixed(name: str, value: Any, help: str) -> Option:
    """An option a kind fixes (Quick96's architecture): shown and stored, only its one value accepted."""
    return Option(name, value, help + " (fixed)", choices=(value,))


def face_type(default: str, choices: tuple[str, ...], help: str) -> Option:
    """A model's face-type option: DFL's short names stored, every other name of those types accepted."""
    names = {k: v for k, v in _FACE_TYPE_ALIASES.items() if v in choices}
    return Option("face_type", default, help, choices=choices, aliases=names)


def check_kind(kind: str) -> str:
    """The canonical kind name, or a clear error."""
    return spec(kind).kind


def model_options(kind: str) -> list[Option]:
    """The option table of a model kind (DFL's names, defaults and ranges), as the kind registered it."""
    return list(spec(kind).options)


def _even_up(v: int) -> int:
    return v + v % 2


def default_mask_dims(d_dims: int) -> int:
    """DFL's default d_mask_dims: d_dims//3, made even."""
    return _even_up(d_dims // 3)


def fixed_names(kind: str) -> set[str]:
    """The options ``kind`` fixes (one allowed value): Quick96's architecture."""
    return {o.name for o in model_options(kind) if o.choices is not None and tuple(o.choices) == (o.default,)}


def resolution_step(options: dict[str, Any]) -> int:
    """The multiple a model's resolution is floored to: 16, or 32 with archi letter ``d`` or without an archi."""
    archi = options.get("archi")
    return 32 if archi is None or parse_archi(str(archi)).has("d") else 16


def normalize_options(kind: str, options: dict[str, Any] | None = None,
                      explicit: Iterable[str] | None = None, strict: bool = True) -> dict[str, Any]:
    """All options of ``kind`` checked and completed as DFL completes them (options a kind fixes stay as they are).

    ``explicit`` names the options the user actually gave; derived defaults (d_mask_dims, gan_patch_size)
    are recomputed for the others. By default every key present in ``options`` counts as given.
    Unknown keys are an error when ``strict``, else dropped (stored options of another version).
    """
    kind = check_kind(kind)
    table = model_options(kind)
    names = {o.name for o in table}
    given = dict(options or {})
    unknown = sorted(set(given) - names)
    if unknown and strict:
        raise unknown_option(unknown[0], names, f"{kind} options")
    given = {k: v for k, v in given.items() if k in names}
    explicit = set(given if explicit is None else explicit)
    opts = resolve(table, config=given, config_name=f"{kind} options")
    fixed = fixed_names(kind)
    for key in ("e_dims", "d_dims", "d_mask_dims"):
        if key in opts and key not in fixed:
            opts[key] = _even_up(opts[key])
    if "d_mask_dims" in opts and not {"d_mask_dims"} & (explicit | fixed):
        opts["d_mask_dims"] = max(16, default_mask_dims(opts["d_dims"]))
    if "archi" in opts:
        opts["archi"] = parse_archi(opts["archi"]).name
    if "resolution" not in fixed:
        step = resolution_step(opts)
        opts["resolution"] = max(step, opts["resolution"] // step * step)
        if "archi" in opts and parse_archi(opts["archi"]).has("t") and opts["resolution"] % 32:
            raise FacecompError(f"archi {opts['archi']}: resolution {opts['resolution']} must be a multiple of 32 "
                                "with 't'")
    if "gan_patch_size" in opts and "gan_patch_size" not in explicit:
        opts["gan_patch_size"] = opts["resolution"] // 8
    return opts


def architecture_options(kind: str) -> tuple[str, ...]:
    """Options fixed at a model's creation (DFL asks them on the first run only), as the kind registered them."""
    return spec(kind).fixed_at_creation
