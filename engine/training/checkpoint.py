"""Swap-model folders (checkpoints): ``model.json`` + safetensors, saved so that a kill at any moment leaves a
complete checkpoint to resume from.

Layout (the contract in briefs/apis.md)::

    model.json                  {"format": "facecomp-model", "version": 1, "kind", "options", "iteration",
                                 "training_seconds", "facecomp_version", "created", "updated",
                                 "checkpoint_id", "training": {"src", "dst"}, "loss": {...}}
    model.safetensors           SwapModel.state_dict()
    optimizer.safetensors       optional: ``<opt>.ms.<param>``, ``<opt>.vs.<param>`` (AdaBelief), ``<opt>.acc.<param>``
                                (RMSprop), ``<opt>.iters`` for the optimizers src_dst_opt, D_code_opt, GAN_opt
    discriminators.safetensors  optional: ``gan.*`` (UNetPatchDiscriminator), ``code_discriminator.*``
    loss.jsonl  preview.png  loss.png  history/  backups/01..24

A save writes every file into ``.pending/``, marks it complete (``.pending/COMPLETE``, atomic), then moves
the files over the old ones, model.json last. A save cut short before COMPLETE leaves the old checkpoint
untouched (the trainer discards the leftover); one cut short after it is rolled forward. Every safetensors
file carries the ``checkpoint_id`` of its save in its metadata, so files of different saves are detected.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine import __version__, atomic
from engine.errors import FacecompError
from engine.model_json import read_versioned_json

log = logging.getLogger("facecomp")

FORMAT = "facecomp-model"
VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS = "model.safetensors"
MAX_MODEL_JSON_BYTES = 16 << 20
EXTRA_FILES = {"optimizer": "optimizer.safetensors", "discriminators": "discriminators.safetensors"}
PENDING = ".pending"
COMPLETE = "COMPLETE"
BACKUPS = "backups"
MAX_BACKUPS = 24
READ_RETRIES = 5  # a reader meeting a save in progress tries again (half a second apart)
READ_RETRY_SECONDS = 0.5
CHECKPOINT_FILES = frozenset({MODEL_JSON, WEIGHTS, *EXTRA_FILES.values()})
_BACKUP_FILES = (MODEL_JSON, WEIGHTS, *EXTRA_FILES.values(), "preview.png", "loss.png", "loss.jsonl")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Own, contiguous CPU copies (parameters may be views of one flat buffer; safetensors wants no sharing)."""
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in tensors.items()}


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    try:
        save_file(_contiguous(tensors), str(path), metadata=metadata)
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
    except (SafetensorError, OSError) as exc:  # full disk, quota, file-size limit: the previous checkpoint stays
        raise FacecompError(f"cannot write the checkpoint ({exc}); the previous checkpoint is kept", path) from None


def has_checkpoint(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds a model.json (or a completed save still to be rolled forward)."""
    d = Path(folder)
    return (d / MODEL_JSON).is_file() or (d / PENDING / COMPLETE).is_file()


def _plan_names(pending: Path) -> tuple[list[str], list[str]]:
    """The files to move in and to remove, as ``.pending/COMPLETE`` lists them, keeping only this module's own
    file names (a crafted plan with paths, ``..`` or other names is ignored, and said so)."""
    try:
        if (pending / COMPLETE).stat().st_size > 1 << 16:
            raise ValueError("plan too large")
        plan = json.loads((pending / COMPLETE).read_text("utf-8"))
        files, remove = plan["files"], plan.get("remove", [])
        if not isinstance(files, list) or not isinstance(remove, list):
            raise TypeError("not lists")
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        log.warning("%s: unreadable pending-save plan; the pending save is discarded", pending / COMPLETE)
        return [], []
    own = [n for n in files if isinstance(n, str) and n in CHECKPOINT_FILES]
    gone = [n for n in remove if isinstance(n, str) and n in EXTRA_FILES.values()]
    strange = [str(n)[:80] for n in (*files, *remove) if n not in own and n not in gone]
    if strange:
        log.warning("%s: ignored names that are not checkpoint files: %s", pending / COMPLETE, ", ".join(strange))
    return own, gone


def _is_plain_file(path: Path) -> bool:
    """A regular file, not a symbolic link (``lstat``: nothing is followed)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _rollable(pending: Path, files: list[str], fmt: str = FORMAT) -> bool:
    """A pending save may be rolled forward only if it is this module's: its plan names model.json, every file
    still in ``.pending`` is a regular file (no symbolic link, nothing followed), and a model.json still there
    is a facecomp model. Files already moved by an earlier, interrupted roll-forward are simply absent."""
    if MODEL_JSON not in files:
        return False
    odd = [n for n in files if os.path.lexists(pending / n) and not _is_plain_file(pending / n)]
    if odd:
        log.warning("%s: pending save refused (symbolic links or non-files: %s)", pending, ", ".join(odd))
        return False
    if not _is_plain_file(pending / MODEL_JSON):
        return True
    try:
        read_versioned_json(pending / MODEL_JSON, fmt, VERSION, f"a {fmt} model folder", MAX_MODEL_JSON_BYTES)
    except FacecompError as exc:
        log.warning("%s: pending save refused (%s)", pending, exc.message)
        return False
    return True


def recover(folder: str | os.PathLike[str], fmt: str = FORMAT) -> None:
    """Finish a save that was complete but not yet moved in place; discard an incomplete one (trainer only).
    ``fmt``: the model.json format the folder holds (XSeg folders are written by this module too).

    Only the checkpoint's own file names are moved or removed, and only inside ``folder``: a ``.pending``
    that is a symbolic link, or a plan naming other paths, never touches anything outside the folder.
    """
    d = Path(folder)
    pending = d / PENDING
    if pending.is_symlink():
        raise FacecompError(f"{PENDING} is a symbolic link (not written by facecomp); remove it to train here", d)
    if not pending.is_dir():
        return
    if _is_plain_file(pending / COMPLETE):
        files, remove = _plan_names(pending)
        if _rollable(pending, files, fmt):
            for name in files:
                if _is_plain_file(pending / name):
                    os.replace(pending / name, d / name)
            for name in remove:
                if not (d / name).is_dir():
                    with contextlib.suppress(FileNotFoundError):
                        (d / name).unlink()
            atomic.fsync_dir(d)
    shutil.rmtree(pending, ignore_errors=True)


def _resolve(folder: Path, name: str) -> Path:
    """Where file ``name`` of the newest complete checkpoint is (``.pending`` when a save awaits roll-forward)."""
    staged = folder / PENDING / name
    if (folder / PENDING / COMPLETE).is_file() and staged.is_file():
        return staged
    return folder / name


def save_checkpoint(folder: str | os.PathLike[str], model: torch.nn.Module, iteration: int,
                    extra_state: dict[str, dict[str, torch.Tensor]] | None = None,
                    meta: dict[str, Any] | None = None, fmt: str = FORMAT) -> dict[str, Any]:
    """Write a complete checkpoint of ``model`` at ``iteration`` (see the module doc); returns model.json's data.
    ``fmt``: model.json's format (XSeg folders, engine.xseg.checkpoint, are written here too).

    ``extra_state`` maps ``"optimizer"`` / ``"discriminators"`` to tensors; ``meta`` adds or overrides model.json
    fields (``options``, ``training_seconds``, ``training``, ``loss``, ``created`` ...).
    """
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    recover(d, fmt)
    old: dict[str, Any] = {}
    with contextlib.suppress(FacecompError):
        old = read_model_json(d) if fmt == FORMAT and (d / MODEL_JSON).is_file() else {}
    checkpoint_id = f"{int(iteration)}-{uuid.uuid4().hex[:12]}"
    kind = str(getattr(model, "kind", (meta or {}).get("kind", "")))
    info: dict[str, Any] = {
        "format": fmt, "version": VERSION, "kind": kind,
        "options": dict(getattr(model, "options", {})),
        "iteration": int(iteration), "training_seconds": float(old.get("training_seconds", 0.0)),
        "facecomp_version": __version__, "created": old.get("created", _now()), "updated": _now(),
    }
    info.update(meta or {})
    info.update({"format": fmt, "version": VERSION, "iteration": int(iteration), "checkpoint_id": checkpoint_id,
                 "updated": _now()})
    st_meta = {"format": fmt, "kind": kind, "checkpoint_id": checkpoint_id, "iteration": str(int(iteration))}

    pending = d / PENDING
    shutil.rmtree(pending, ignore_errors=True)
    pending.mkdir()
    files = [WEIGHTS]
    _write_safetensors(pending / WEIGHTS, model.state_dict(), st_meta)
    for key, tensors in (extra_state or {}).items():
        if key not in EXTRA_FILES:
            raise ValueError(f"unknown checkpoint part {key!r}")
        if tensors:
            _write_safetensors(pending / EXTRA_FILES[key], tensors, st_meta)
            files.append(EXTRA_FILES[key])
    with open(pending / MODEL_JSON, "w", encoding="utf-8") as f:
        f.write(json.dumps(info, indent=1, sort_keys=True))
        f.flush()
        os.fsync(f.fileno())
    files.append(MODEL_JSON)  # moved last: it names the checkpoint the other files belong to
    remove = [name for name in EXTRA_FILES.values() if name not in files]
    atomic.fsync_dir(pending)
    atomic.write_text(pending / COMPLETE, json.dumps({"files": files, "remove": remove}))
    atomic.fsync_dir(pending)
    recover(d, fmt)
    return info


def read_model_json(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated model.json of a swap-model folder (of its newest complete checkpoint)."""
    d = Path(folder)
    path = _resolve(d, MODEL_JSON)
    if not path.is_file():
        raise FacecompError("no facecomp model here (model.json missing)", d)
    meta = read_versioned_json(path, FORMAT, VERSION, "a facecomp swap model", MAX_MODEL_JSON_BYTES)
    from engine.models import MODEL_KINDS

    if meta.get("kind") not in MODEL_KINDS or not isinstance(meta.get("options"), dict):
        raise FacecompError(f"damaged model.json (kind {meta.get('kind')!r} / options missing)", path)
    try:
        meta["iteration"] = int(meta.get("iteration", 0))
    except (TypeError, ValueError):
        raise FacecompError("damaged model.json (iteration is not a number)", path) from None
    return meta


def read_tensors(folder: str | os.PathLike[str], name: str, checkpoint_id: str | None,
                 required: bool = True) -> dict[str, torch.Tensor]:
    """Tensors of one safetensors file of the checkpoint; FacecompError naming the file if damaged or foreign."""
    path = _resolve(Path(folder), name)
    if not path.is_file():
        if required:
            raise FacecompError(f"{name} missing (incomplete model folder)", path)
        return {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            info = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise FacecompError(f"damaged or not a safetensors file ({exc})", path) from None
    if info.get("format") != FORMAT:
        raise FacecompError(f"not a facecomp swap-model file (format {info.get('format')!r})", path)
    if checkpoint_id is not None and info.get("checkpoint_id") not in (None, checkpoint_id):
        raise FacecompError("belongs to another save than model.json (mixed checkpoint files)", path)
    return tensors


def load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Copy ``tensors`` into ``model``; a missing/unexpected key or shape is a FacecompError naming ``path``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if tuple(own[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        what = [f"{len(missing)} missing" if missing else "", f"{len(unexpected)} unexpected" if unexpected else "",
                f"{len(wrong)} of another shape" if wrong else ""]
        example = (missing or unexpected or wrong)[0]
        raise FacecompError(f"weights do not fit this architecture ({', '.join(w for w in what if w)}, "
                            f"e.g. {example})", path)
    model.load_state_dict(tensors, strict=True)


def _checkpoint_stamp(folder: Path) -> tuple[int, int, bool]:
    """What changes when a save lands: model.json's inode and mtime, and whether a save is pending."""
    try:
        st = (folder / MODEL_JSON).stat()
        stamp = (st.st_ino, st.st_mtime_ns)
    except OSError:
        stamp = (0, 0)
    return (*stamp, (folder / PENDING).exists())


def load_model(folder: str | os.PathLike[str], map_location: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """The trained SwapModel of a model folder (eval mode, on ``map_location``) and its model.json data.

    Readers take no lock: a checkpoint caught while a trainer saves (files of two saves, a file moved away
    between listing and reading) is read again, up to :data:`READ_RETRIES` times, while a save is seen landing.
    """
    d = Path(folder)
    for attempt in range(READ_RETRIES):
        before = _checkpoint_stamp(d)
        try:
            return _load_model_once(d, map_location)
        except FacecompError:
            after = _checkpoint_stamp(d)
            if attempt + 1 == READ_RETRIES or (before == after and not after[2]):
                raise
            time.sleep(READ_RETRY_SECONDS)
    raise AssertionError("unreachable")


def _load_model_once(d: Path, map_location: str) -> tuple[Any, dict[str, Any]]:
    from engine.models import build_model

    meta = read_model_json(d)
    try:
        model = build_model(meta["kind"], meta["options"])
    except FacecompError as exc:
        raise FacecompError(f"stored options do not build a model ({exc.message})", d / MODEL_JSON) from None
    tensors = read_tensors(d, WEIGHTS, meta.get("checkpoint_id"))
    load_weights(model, tensors, _resolve(d, WEIGHTS))
    return model.to(map_location).eval(), meta


def write_backup(folder: str | os.PathLike[str], keep: int = MAX_BACKUPS) -> Path:
    """Copy the current checkpoint into backups/01 after rotating 01..keep-1 -> 02..keep (DFL's autobackup)."""
    d = Path(folder)
    root = d / BACKUPS
    root.mkdir(exist_ok=True)
    stage = root / ".new"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    for name in _BACKUP_FILES:
        if (d / name).is_file():
            shutil.copy2(d / name, stage / name)
    shutil.rmtree(root / f"{keep:02d}", ignore_errors=True)
    for i in range(keep - 1, 0, -1):
        src = root / f"{i:02d}"
        if src.is_dir():
            os.replace(src, root / f"{i + 1:02d}")
    os.replace(stage, root / "01")
    return root / "01"
