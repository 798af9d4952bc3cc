"""Decide what a ``facecomp train`` run does with a model folder: new model or resume, the options (defaults <
stored < config < --set < flags, as DFL allows changing them), resets, and the facesets.

DFL rules kept: resolution, face_type, archi and the dims are fixed once a model exists; switching pretrain
off restarts the iteration count and re-initialises the inter(s); changing the GAN patch size or dims
re-initialises the GAN. ``--reset inter`` re-initialises DFL's inter (LIAE: inter_AB), keeping the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.cli.options import Option, load_config, parse_set, resolve
from engine.errors import FacecompError
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


def all_options() -> list[Option]:
    """The union of the option tables of every model kind (for the CLI flags; SAEHD's entry wins on a clash)."""
    from engine.models import MODEL_KINDS, model_options

    seen: dict[str, Option] = {}
    for kind in MODEL_KINDS:
        for opt in model_options(kind):
            seen.setdefault(opt.name, opt)
    return list(seen.values())


def read_existing(folder: Path) -> dict[str, Any] | None:
    """model.json of the folder's newest complete checkpoint (an interrupted save is finished or discarded);
    None for a new or empty folder. A folder with other files (a DFL model, anything else) is refused."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise FacecompError("--model must be a folder", folder)
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


def _flags_given(args: Any, table: list[Option]) -> set[str]:
    return {o.name for o in table if getattr(args, o.name, None) is not None}


def _check_foreign_flags(args: Any, kind: str, table: list[Option]) -> None:
    names = {o.name for o in table}
    for opt in all_options():
        if opt.name not in names and getattr(args, opt.name, None) is not None:
            raise FacecompError(f"{opt.flag} is not an option of {kind} models")


def plan(args: Any, stored: dict[str, Any] | None) -> RunPlan:
    """Options and resets for this run from the parsed CLI ``args`` and the folder's ``stored`` model.json."""
    from engine.models import architecture_options, model_options, normalize_options

    kind = args.kind or (stored or {}).get("kind")
    if not kind:
        raise FacecompError("a new model needs --kind saehd|amp|quick96", args.model)
    if stored and args.kind and args.kind != stored["kind"]:
        raise FacecompError(f"this folder holds a {stored['kind']} model, not {args.kind}", args.model)
    table = model_options(kind)
    _check_foreign_flags(args, kind, table)
    config = load_config(args.config) if args.config else {}
    sets = parse_set(args.set)
    prior = dict(stored["options"]) if stored else None
    merged = resolve(table, args, stored=prior, config=config, overrides=sets,
                     config_name=str(args.config or "config"))
    explicit = set(prior or {}) | set(config) | set(sets) | _flags_given(args, table)
    options = normalize_options(kind, merged, explicit)
    result = RunPlan(kind, options, stored, _path(args.src, stored, "src"), _path(args.dst, stored, "dst"))
    if args.pretrain and not args.dst:
        result.dst = result.src
    if not stored:
        return result
    old = normalize_options(kind, {k: v for k, v in prior.items() if k in {o.name for o in table}}, set(prior))
    for key in architecture_options(kind):
        if options.get(key) != old.get(key):
            raise FacecompError(f"{key} is fixed when a model is created (this model: {old.get(key)}, asked: "
                                f"{options.get(key)}); train a new model folder to change it", args.model)
    result.changed = {k: (old.get(k), v) for k, v in options.items() if old.get(k) != v}
    if old.get("pretrain") and not options.get("pretrain"):
        result.reset_iteration = True
        archi = str(options.get("archi", ""))
        result.reset_parts = ["inter_AB", "inter_B"] if archi.startswith("liae") else ["inter"]
    if any(k in result.changed for k in ("gan_patch_size", "gan_dims")):
        result.reset_gan = True
    for part in args.reset or []:
        if part not in result.reset_parts:
            result.reset_parts.append(part)
    return result


def _path(given: str | None, stored: dict[str, Any] | None, side: str) -> Path | None:
    if given:
        return Path(given).expanduser().resolve()
    value = ((stored or {}).get("training") or {}).get(side)
    return Path(value) if value else None
