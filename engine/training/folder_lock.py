"""One writer per model folder: a lock the operating system releases when its holder dies.

``train``, ``xseg train`` and ``import-dfl model`` hold :func:`writer_lock` on the model folder while they
write it; a second writer gets one line naming the folder and the holder's pid instead of two processes
interleaving checkpoints (and one silently losing the other's optimizer state). The lock is an advisory
``flock`` (Windows: ``msvcrt.locking``) on ``.facecomp.lock`` inside the folder, so a holder killed with
SIGKILL leaves no stale lock: the kernel drops it with the process (the file may stay; it only names the last
holder's pid and verb for the message). A clean release removes the file.
Readers (export, merge, render) take no lock; they retry a checkpoint caught half rolled forward
(engine/training/checkpoint.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from engine.errors import FacecompError

LOCK_FILE = ".facecomp.lock"

try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
except ImportError:  # Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def holder(folder: str | os.PathLike[str]) -> str:
    """What the lock file says about its last holder ("pid 1234, train"), or "" when unknown."""
    try:
        with open(Path(folder) / LOCK_FILE, encoding="utf-8", errors="replace") as f:
            text = f.read(200).strip()
    except OSError:
        return ""
    return text.splitlines()[0][:100] if text else ""


def _open_locked(path: Path) -> int | None:
    """An fd holding the lock on ``path``, or None when another process holds it. The lock file is removed on
    release, so a lock taken on a file that was meanwhile unlinked (or replaced) is dropped and taken again."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        if not _try_lock(fd):
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        _unlock(fd)
        os.close(fd)


@contextlib.contextmanager
def writer_lock(folder: str | os.PathLike[str], verb: str) -> Iterator[Path]:
    """Hold the folder's writer lock for the block; FacecompError naming the folder and the holder when another
    process holds it. A folder created for the lock is removed again if it is still empty at the end, and the
    lock file is removed on release (a killed holder leaves the file, never the lock)."""
    d = Path(folder)
    created = not d.exists()
    d.mkdir(parents=True, exist_ok=True)
    path = d / LOCK_FILE
    try:
        fd = _open_locked(path)
    except OSError as exc:
        raise FacecompError(f"cannot lock the model folder ({exc.strerror})", d) from None
    if fd is None:
        who = holder(d) or "another process"
        raise FacecompError(f"model folder is in use by another facecomp ({who}); wait for it to finish or "
                            "stop it", d)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, {verb}\n".encode())
        yield d
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before unlocking: a waiting writer then re-opens a fresh file
        _unlock(fd)
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                d.rmdir()  # only if empty: nothing was written
