"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A reader (or a job killed mid-way) never sees a half-written file: the target is either the old
complete file or the new complete one. The rename is made durable (the folder is fsynced) and the
target keeps the permissions it had (a new file gets the usual ``0666 & ~umask``), so group permissions
on shared storage survive a rewrite.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: mkstemp creates 0600 files; finished files get the usual 0666 & ~umask
_TMP_MARK = ".facecomp-tmp"
# ".<target name>.<mkstemp's 8 random characters>.facecomp-tmp<extension>": only names atomic_path makes
_TMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}" + re.escape(_TMP_MARK) + r"(\.[^./]*)?$")


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename or creation inside ``folder`` durable (no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _mode_for(target: Path) -> int:
    """The permission bits the finished file gets: those of the file it replaces, else 0666 & ~umask."""
    try:
        st = target.stat()
    except OSError:
        return 0o666 & ~_UMASK
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is fsynced and renamed onto ``target``.

    The temporary name keeps the target's extension (``suffix``), so writers that pick a format by
    extension (OpenCV, OpenImageIO) still work. On any exception the temporary file is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TMP_MARK + (suffix or target.suffix),
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, _mode_for(target))
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    fsync_dir(target.parent)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    write_bytes(target, text.encode("utf-8"))


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """True only for the temporary files ``atomic_path`` makes (skip them when listing; a killed run's leftovers).

    A user's own hidden files (``.notes.tmp``, ``.backup.tmp.exr``) never match.
    """
    return bool(_TMP_NAME.match(Path(path).name))
