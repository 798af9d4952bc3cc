"""Option tables of the swap models with DeepFaceLab's names, defaults and ranges (dfl.md §6-8).

``model_options(kind)`` gives the table (flags, config keys, ``--set``); ``normalize_options`` applies what
DFL does after asking: derived defaults (d_mask_dims = d_dims//3 made even, gan_patch_size = res//8),
rounding (dims up to even, resolution down to a multiple of 16, of 32 with archi ``d``) and checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.errors import FacecompError
from engine.faces.facetype import SHORT_CHOICES
from engine.faces.facetype import aliases as face_type_aliases
from engine.models.archi import parse_archi
from engine.options import Option, resolve

MODEL_KINDS = ("saehd", "amp", "quick96")

FACE_TYPES = SHORT_CHOICES
# DFL stores the short names; every other name of a face type (whole_face, full ...) is accepted and stored short
_FACE_TYPE_ALIASES = face_type_aliases(to_short=True)


def _face_type(default: str, choices: tuple[str, ...], help: str) -> Option:
    names = {k: v for k, v in _FACE_TYPE_ALIASES.items() if v in choices}
    return Option("face_type", default, help, choices=choices, aliases=names)

CT_MODES = ("none", "rct", "lct", "mkl", "idt", "sot")
LR_DROPOUT = ("n", "y", "cpu")

# shared by every kind (DFL's ModelBase questions)
_COMMON = [
    Option("autobackup_hour", 0, "back the model up every N hours (0 = off)", low=0, high=24),
    Option("write_preview_history", False, "keep a preview image every few iterations in model/history/"),
    Option("target_iter", 0, "stop training at this iteration (0 = never)", low=0),
]
_FLIPS = [
    Option("random_src_flip", False, "randomly flip src faces horizontally"),
    Option("random_dst_flip", True, "randomly flip dst faces horizontally"),
]


def _gan(patch_default: int) -> list[Option]:
    return [
        Option("gan_power", 0.0, "GAN loss weight (0 = no GAN); train without it first", low=0.0, high=5.0),
        Option("gan_patch_size", patch_default, "GAN patch size (default resolution//8)", low=3, high=640),
        Option("gan_dims", 16, "GAN discriminator base channels", low=4, high=512),
    ]


_DIMS = [
    Option("e_dims", 64, "encoder dimensions (rounded up to even)", low=16, high=256),
    Option("d_dims", 64, "decoder dimensions (rounded up to even)", low=16, high=256),
    Option("d_mask_dims", 22, "decoder mask dimensions (default d_dims//3 made even)", low=16, high=256),
]
_SAMPLING = [
    Option("uniform_yaw", False, "sample faces evenly over yaw"),
    Option("blur_out_mask", False, "blur the background near the mask before the loss"),
    Option("lr_dropout", "n", "learning-rate dropout: n, y, cpu", choices=LR_DROPOUT),
    Option("random_warp", True, "random warp of the input faces"),
]
_CT_CLIP = [
    Option("ct_mode", "none", "colour transfer of src samples toward dst", choices=CT_MODES),
    Option("clipgrad", False, "clip gradients (global norm 1.0)"),
]

SAEHD_OPTIONS: list[Option] = [
    *_COMMON,
    *_FLIPS,
    Option("batch_size", 4, "samples per iteration (DFL suggests 8 on a GPU with >= 4 GB, else 4)", low=1, high=512),
    Option("resolution", 128, "face size in px; floored to a multiple of 16 (32 with archi d)", low=64, high=640),
    _face_type("f", FACE_TYPES, "face type of the model: h, mf, f, wf, head (default: the src faceset's)"),
    Option("archi", "liae-ud", "df or liae, optionally - and letters from u, d, t, c (e.g. liae-udt)"),
    Option("ae_dims", 256, "autoencoder (bottleneck) dimensions", low=32, high=1024),
    *_DIMS,
    Option("masked_training", True, "restrict the loss to the face mask"),
    Option("eyes_mouth_prio", False, "extra loss weight on eyes and mouth"),
    Option("adabelief", True, "AdaBelief optimizer (otherwise RMSprop)"),
    *_SAMPLING,
    Option("random_hsv_power", 0.0, "random hue/saturation/value jitter of src", low=0.0, high=0.3),
    Option("true_face_power", 0.0, "true-face (code discriminator) power, df only", low=0.0, high=1.0),
    Option("face_style_power", 0.0, "face style loss power", low=0.0, high=100.0),
    Option("bg_style_power", 0.0, "background style loss power", low=0.0, high=100.0),
    *_CT_CLIP,
    Option("pretrain", False, "pretraining mode on a generic faceset"),
    *_gan(16),
]

AMP_OPTIONS: list[Option] = [
    *_COMMON,
    *_FLIPS,
    Option("batch_size", 8, "samples per iteration", low=1, high=512),
    Option("resolution", 224, "face size in px; floored to a multiple of 32", low=64, high=640),
    _face_type("wf", ("f", "wf", "head"), "face type of the model: f, wf, head (default: the src faceset's)"),
    Option("ae_dims", 256, "autoencoder dimensions", low=32, high=1024),
    Option("inter_dims", 1024, "inter dimensions (channels of the code)", low=32, high=2048),
    *_DIMS,
    Option("morph_factor", 0.5, "share of code channels mixed between identities in training", low=0.1, high=0.5),
    *_SAMPLING,
    *_CT_CLIP,
    *_gan(28),
]


def _fixed(name: str, value: Any, help: str) -> Option:
    return Option(name, value, help + " (fixed)", choices=(value,))


# Quick96 is DFL's fixed beginner recipe: only the training-loop questions remain.
QUICK96_OPTIONS: list[Option] = [
    *_COMMON,
    Option("batch_size", 4, "samples per iteration (DFL fixes 4)", low=1, high=512),
    _fixed("resolution", 96, "face size in px"),
    _face_type("f", ("f",), "face type (fixed)"),
    _fixed("archi", "df-ud", "architecture"),
    _fixed("ae_dims", 128, "autoencoder dimensions"),
    _fixed("e_dims", 64, "encoder dimensions"),
    _fixed("d_dims", 64, "decoder dimensions"),
    _fixed("d_mask_dims", 16, "decoder mask dimensions"),
]

_TABLES = {"saehd": SAEHD_OPTIONS, "amp": AMP_OPTIONS, "quick96": QUICK96_OPTIONS}


def check_kind(kind: str) -> str:
    """The canonical kind name, or a clear error."""
    k = str(kind).strip().lower()
    if k not in _TABLES:
        raise FacecompError(f"unknown model kind {kind!r}; use one of {', '.join(MODEL_KINDS)}")
    return k


def model_options(kind: str) -> list[Option]:
    """The option table of a model kind (DFL's names, defaults and ranges)."""
    return list(_TABLES[check_kind(kind)])


def _even_up(v: int) -> int:
    return v + v % 2


def default_mask_dims(d_dims: int) -> int:
    """DFL's default d_mask_dims: d_dims//3, made even."""
    return _even_up(d_dims // 3)


def normalize_options(kind: str, options: dict[str, Any] | None = None,
                      explicit: Iterable[str] | None = None, strict: bool = True) -> dict[str, Any]:
    """All options of ``kind`` checked and completed as DFL completes them.

    ``explicit`` names the options the user actually gave; derived defaults (d_mask_dims, gan_patch_size)
    are recomputed for the others. By default every key present in ``options`` counts as given.
    Unknown keys are an error when ``strict``, else dropped (stored options of another version).
    """
    kind = check_kind(kind)
    table = _TABLES[kind]
    names = {o.name for o in table}
    given = dict(options or {})
    unknown = sorted(set(given) - names)
    if unknown and strict:
        raise FacecompError(f"{kind}: unknown option(s) {', '.join(unknown)}")
    given = {k: v for k, v in given.items() if k in names}
    explicit = set(given if explicit is None else explicit)
    opts = resolve(table, stored=None, config=given, config_name=f"{kind} options")
    if kind == "quick96":
        return opts
    for key in ("e_dims", "d_dims", "d_mask_dims"):
        opts[key] = _even_up(opts[key])
    if "d_mask_dims" not in explicit:
        opts["d_mask_dims"] = max(16, default_mask_dims(opts["d_dims"]))
    if kind == "saehd":
        archi = parse_archi(opts["archi"])
        opts["archi"] = archi.name
        step = 32 if archi.has("d") else 16
    else:
        step = 32
    opts["resolution"] = max(step, opts["resolution"] // step * step)
    if kind == "saehd" and archi.has("t") and opts["resolution"] % 32:
        raise FacecompError(f"archi {archi.name}: resolution {opts['resolution']} must be a multiple of 32 with 't'")
    if "gan_patch_size" not in explicit:
        opts["gan_patch_size"] = opts["resolution"] // 8
    return opts


def architecture_options(kind: str) -> tuple[str, ...]:
    """Options fixed at a model's creation (DFL asks them on the first run only)."""
    kind = check_kind(kind)
    if kind == "amp":
        return ("resolution", "face_type", "ae_dims", "inter_dims", "e_dims", "d_dims", "d_mask_dims")
    return ("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims")
