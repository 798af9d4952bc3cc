"""Limits on what one request to `facecomp worker` may ask for, and reading request lines within them.

A host (or anything writing to the worker's stdin) cannot make the worker hang, die silently or allocate
without bound: lines longer than :data:`MAX_LINE_CHARS` are skipped (the rest of the line is read and
dropped) and answered with an error, JSON nested deeper than :data:`MAX_DEPTH` is refused, and one render
asks for at most :data:`MAX_FRAMES` frames.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

MAX_LINE_CHARS = 1 << 20  # a render request with settings and a track path is a few KB
MAX_DEPTH = 32  # request objects nest two or three levels (settings, overrides)
MAX_FRAMES = 100_000  # frames per render request (a feature film reel is ~30k)
MAX_SHOWN = 200  # characters of a bad value repeated in an error message


class TooLong(ValueError):
    """A request line over :data:`MAX_LINE_CHARS`."""


def read_line(inp: TextIO, max_chars: int = MAX_LINE_CHARS) -> str | None:
    """The next line of ``inp`` (None at end of input); :class:`TooLong` once an over-long line was skipped whole."""
    line = inp.readline(max_chars + 1)
    if not line:
        return None
    if len(line) <= max_chars or line.endswith("\n"):
        return line
    while line and not line.endswith("\n"):  # drop the rest of the line in bounded pieces
        line = inp.readline(max_chars)
    raise TooLong(f"request line longer than {max_chars} characters (skipped)")


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of parsed JSON, counting at most ``limit + 1`` (iterative: no recursion on hostile input)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            todo.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def loads(line: str) -> Any:
    """``json.loads`` within :data:`MAX_DEPTH`; ValueError (a short reason) otherwise."""
    try:
        obj = json.loads(line)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if depth(obj) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return obj


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value) if not isinstance(value, (dict, list)) or depth(value) <= MAX_DEPTH else "<deep value>"
    return text if len(text) <= limit else text[:limit] + "..."


def check_frame_count(count: int) -> None:
    """ValueError when one request asks for more than :data:`MAX_FRAMES` frames."""
    if count > MAX_FRAMES:
        raise ValueError(f"{count} frames in one request (at most {MAX_FRAMES}; split the range)")
