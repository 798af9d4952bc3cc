"""The per-file budget of the restricted DFL unpickler (engine/dfl/safe_unpickle.py): what one file may cost.

A pickle is a program; even without running code, a small file can ask for a lot of work (one container
reused a million times, a million empty containers, the same big array rebuilt again and again). The budget
is for the whole file and grows with its size, so a real DFL file (a few KB of face metadata, a loss history
of millions of iterations, gigabytes of weights) passes, while a crafted one fails fast:

- objects: containers and numpy objects created (a call's argument tuple is given back once spent), at most
  ``OBJECTS_BASE + size / 16``;
- tree: values reachable from the result, shared ones counted each time (what :func:`to_plain` walks), at
  most ``TREE_BASE + size / 4``;
- bytes: bytes of strings, byte strings and arrays made, at most ``BYTES_BASE + 4 * size``;
- work: opcodes plus items placed in containers, at most ``WORK_BASE + 8 * size``.

Refusal messages show values through :func:`shown`, cut to :data:`MAX_SHOWN` characters.
"""

from __future__ import annotations

import reprlib
from typing import Any

OBJECTS_BASE = 10_000
TREE_BASE = 10_000
BYTES_BASE = 1 << 20
WORK_BASE = 100_000
MAX_SHOWN = 200
MAX_KEY_TUPLE = 8  # a tuple used as a dict key holds at most this many plain values
PLAIN_KEYS = (str, bytes, int, float, bool, type(None))

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxtuple, _REPR.maxlist, _REPR.maxdict, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


class Refused(Exception):
    """A reason to refuse the file (the unpickler turns it into a FacecompError naming the file)."""


def shown(value: Any) -> str:
    """A short, bounded text of ``value`` for an error message (never the whole value)."""
    text = _REPR.repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def check_key(key: Any) -> None:
    """Dict keys must be plain: a scalar, text, bytes, or a small tuple of those (cheap to hash)."""
    if isinstance(key, PLAIN_KEYS):
        return
    if isinstance(key, tuple) and len(key) <= MAX_KEY_TUPLE and all(isinstance(k, PLAIN_KEYS) for k in key):
        return
    raise Refused(f"dict key of type {type(key).__name__} (only text, numbers and small tuples of them)")


class Budget:
    """Counters for one file; each ``spend_*`` raises :class:`Refused` once its limit is passed."""

    def __init__(self, size: int):
        self.objects = OBJECTS_BASE + size // 16
        self.tree = TREE_BASE + size // 4
        self.bytes = BYTES_BASE + 4 * size
        self.work = WORK_BASE + 8 * size

    def spend_object(self) -> None:
        self.objects -= 1
        if self.objects < 0:
            raise Refused("too many objects for the file's size (a crafted file?)")

    def refund_object(self) -> None:
        self.objects += 1

    def spend_bytes(self, n: int) -> None:
        self.bytes -= n
        if self.bytes < 0:
            raise Refused("more data made than the file's size allows (a crafted file?)")

    def spend_work(self, n: int = 1) -> None:
        self.work -= n
        if self.work < 0:
            raise Refused("more work than the file's size allows (a crafted file?)")

    def check_tree(self, count: int) -> None:
        if count > self.tree:
            raise Refused(f"more than {self.tree} values reachable for the file's size (shared values repeated?)")
