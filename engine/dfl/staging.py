"""Write an imported model folder all-or-nothing: build it in a hidden folder beside the target, then swap it in.

The DFL folder is only read. A target that already holds a facecomp model is replaced only with ``force``;
a non-empty target without one is refused (it is not ours to clear).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import FacecompError
from engine.training.folder_lock import LOCK_FILE

MODEL_JSON = "model.json"


def check_destination(src: Path, dst: Path, force: bool) -> None:
    """Refuse writing into the DFL folder itself, over a model without ``force``, or into a foreign folder."""
    if dst.exists() and not dst.is_dir():
        raise FacecompError("destination exists and is not a folder", dst)
    if dst.resolve() == src.resolve():
        raise FacecompError("destination is the DeepFaceLab folder itself; originals are never modified, "
                            "choose another folder (e.g. workspace/model in a facecomp workspace)", dst)
    if dst.is_dir() and any(p.name != LOCK_FILE for p in dst.iterdir()):
        if not (dst / MODEL_JSON).is_file():
            raise FacecompError("destination is not empty and holds no facecomp model; choose a new or empty folder",
                                dst)
        if not force:
            raise FacecompError("destination already holds a facecomp model; --force replaces it", dst)


@contextlib.contextmanager
def staged_folder(dst: Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``dst``; on success it replaces ``dst`` (old contents removed)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dst.name}.import-", dir=dst.parent))
    try:
        yield stage
        os.chmod(stage, 0o755)
        if dst.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
            os.replace(dst, old / dst.name)
            os.replace(stage, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, dst)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
