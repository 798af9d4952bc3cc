"""The one error type users see: a short message naming the file and what is wrong with it."""

from __future__ import annotations

import os


class FacecompError(Exception):
    """A problem with the user's input or environment, reported as one line (no traceback).

    >>> str(FacecompError("not a video", path="clip.mp4"))
    'clip.mp4: not a video'
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None):
        self.message = message
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
