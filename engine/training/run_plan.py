"""Decide what a ``facecomp train`` run does with a model folder: new model or resume, the options (defaults <
stored < config < --set < flags, as DFL allows changing them), resets, and the facesets.

DFL rules kept: resolution, face_type, archi and the dims are fixed once a model exists; switching pretrain
off restarts the iteration count and re-initialises the inter(s); changing the GAN patch size or dims
re-initialises the GAN. ``--reset inter`` re-initialises DFL's inter (LIAE: inter_AB), keeping the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import FacecompError
from engine.options import Option, fixed_at_creation, load_config, parse_set, resolve
from engine.training import checkpoint as ckpt


@dataclass
class RunPlan:
    """The outcome: options to train with and what to reset."""

    kind: str
    options: dict[str, Any]
    stored: dict[str, Any] | None
    src: Path | None
    dst: Path | None
    reset_parts: list[str] = field(default_factory=list)
    reset_iteration: bool = False
    reset_gan: bool = False
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def all_options() -> list[Option]:
    """The union of the option tables of every model kind (for the CLI flags; SAEHD's entry wins on a clash)."""
    from engine.models import MODEL_KINDS, model_options

    seen: dict[str, Option] = {}
    for kind in MODEL_KINDS:
        for opt in model_options(kind):
            seen.setdefault(opt.name, opt)
    return list(seen.values())


def read_existing(folder: Path, finish_saves: bool = True) -> dict[str, Any] | None:
    """model.json of the folder's newest complete checkpoint (an interrupted save is finished or discarded, only
    with ``finish_saves``: the caller holds the folder's writer lock); None for a new or empty folder. A folder
    with other files (a DFL model, anything else) is refused."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise FacecompError("--model must be a folder", folder)
    if finish_saves:
        ckpt.recover(folder)
    if ckpt.has_checkpoint(folder):
        return ckpt.read_model_json(folder)
    names = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
    if any(n.endswith(".npy") or n.endswith("_data.dat") for n in names):
        raise FacecompError("this is a DeepFaceLab model folder; convert it first with facecomp import-dfl", folder)
    outputs = ("loss.jsonl", "preview.png", "loss.png", "history", "backups", "tensorboard")
    foreign = [n for n in names if n not in outputs]
    if foreign:
        raise FacecompError(f"folder holds other files ({foreign[0]} ...) and no facecomp model; use an empty or "
                            "new folder", folder)
    return None


def _check_foreign_flags(flags: Mapping[str, Any], kind: str, table: list[Option]) -> None:
    names = {o.name for o in table}
    for opt in all_options():
        if opt.name not in names and flags.get(opt.name) is not None:
            raise FacecompError(f"{opt.flag} is not an option of {kind} models")


def faceset_face_type(folder: Path | None) -> str | None:
    """The face type (DFL short name) of the first face of a faceset folder; None when there is none."""
    from engine.faces.faceset import list_faces, read_meta
    from engine.faces.facetype import FaceType

    if folder is None or not folder.is_dir():
        return None
    for path in list_faces(folder)[:1]:
        try:
            return FaceType.parse(read_meta(path).face_type).short
        except FacecompError:
            return None
    return None


def plan(folder: Path, stored: dict[str, Any] | None, *, kind: str | None = None,
         flags: Mapping[str, Any] | None = None, config: Path | None = None, sets: Sequence[str] | None = None,
         src: str | None = None, dst: str | None = None, reset: Sequence[str] = ()) -> RunPlan:
    """Options and resets for a run on the model ``folder`` from plain values: the kind, the option flags
    given (name -> value, None = not given), a config file, ``--set`` items, the facesets and the parts to
    reset; ``stored`` is the folder's model.json. Every value is checked here, once."""
    from engine.models import architecture_options, model_options, normalize_options
    from engine.models.options import resolution_step

    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    kind = kind or (stored or {}).get("kind")
    if not kind:
        raise FacecompError("a new model needs --kind saehd|amp|quick96", folder)
    if stored and kind != stored["kind"]:
        raise FacecompError(f"this folder holds a {stored['kind']} model, not {kind}", folder)
    table = model_options(kind)
    _check_foreign_flags(flags, kind, table)
    values = load_config(config) if config else {}
    overrides = parse_set(sets)
    prior = dict(stored["options"]) if stored else None
    merged = resolve(table, flags, stored=prior, config=values, overrides=overrides,
                     config_name=str(config or "config"))
    explicit = set(prior or {}) | set(values) | set(overrides) | (set(flags) & {o.name for o in table})
    result = RunPlan(kind, {}, stored, _path(src, stored, "src"), _path(dst, stored, "dst"))
    if merged.get("pretrain") and not dst:
        result.dst = result.src
    if not stored:
        _face_type_from_faceset(merged, explicit, table, result)
    result.options = options = normalize_options(kind, merged, explicit)
    if "resolution" in explicit and options["resolution"] != merged["resolution"]:
        result.notes.append(f"resolution {merged['resolution']} -> {options['resolution']} ({kind} models need a "
                            f"multiple of {resolution_step(options)})")
    if not stored:
        return result
    prior = prior or {}
    old = normalize_options(kind, {k: v for k, v in prior.items() if k in {o.name for o in table}}, set(prior))
    for key in architecture_options(kind):
        if options.get(key) != old.get(key):
            raise fixed_at_creation(key, old.get(key), options.get(key), folder)
    result.changed = {k: (old.get(k), v) for k, v in options.items() if old.get(k) != v}
    if old.get("pretrain") and not options.get("pretrain"):
        result.reset_iteration = True
        archi = str(options.get("archi", ""))
        result.reset_parts = ["inter_AB", "inter_B"] if archi.startswith("liae") else ["inter"]
    if any(k in result.changed for k in ("gan_patch_size", "gan_dims")):
        result.reset_gan = True
    for part in reset:
        if part not in result.reset_parts:
            result.reset_parts.append(part)
    return result


def _face_type_from_faceset(merged: dict[str, Any], explicit: set[str], table: list[Option], result: RunPlan) -> None:
    """A new model takes the src faceset's face type unless one is given; a given one that differs is said."""
    found = faceset_face_type(result.src)
    option = next((o for o in table if o.name == "face_type"), None)
    if found is None or option is None or option.choices is None or option.choices == (option.default,):
        return
    if "face_type" not in explicit:
        if found in option.choices:
            merged["face_type"] = found
            result.notes.append(f"face type {found} from the src faceset")
        return
    given = option.convert(merged["face_type"])
    if given != found:
        result.notes.append(f"face type {given} differs from the src faceset's ({found}): the faces are re-warped "
                            f"to {given} for training")


def _path(given: str | None, stored: dict[str, Any] | None, side: str) -> Path | None:
    if given:
        return Path(given).expanduser().resolve()
    value = ((stored or {}).get("training") or {}).get(side)
    return Path(value) if value else None
