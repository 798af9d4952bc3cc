"""The worker's wire protocol: one JSON object per line on stdin (requests) and stdout (replies).

Requests carry an ``id`` (any JSON scalar the host picks) and an ``op``; every other key is a
parameter of that op. Replies repeat the ``id`` and have a ``type``:

``result``    the op finished; its fields follow (one per request, the last message for that id)
``error``     the op failed: ``error`` (one line for the node), ``kind`` (``bad_request`` | ``failed`` |
              ``cancelled`` | ``internal``), optional ``path`` (the file at fault) and ``frame``
``progress``  a frame finished during ``render``: ``frame``, ``done``, ``total``, ``out``

The full description (ops, fields, examples) is in docs/hosts.md; this module is the single source of
the names used on both ends of the engine side.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.worker import limits

PROTOCOL_VERSION = 1
# ops the reader thread answers at once, even while a render runs
IMMEDIATE_OPS = frozenset({"hello", "ping", "cancel"})
# ops queued for the worker's main thread, run one after another
QUEUED_OPS = frozenset({"load", "render", "shutdown"})
OPS = IMMEDIATE_OPS | QUEUED_OPS

_RANGE = re.compile(r"^(-?\d{1,12})(?:-(-?\d{1,12})(?:[x:](\d{1,12}))?)?$")


class BadRequest(ValueError):
    """A request the worker cannot act on (malformed JSON, unknown op, missing or wrong parameter)."""

    def __init__(self, message: str, rid: Any = None):
        super().__init__(message)
        self.rid = rid


@dataclass
class Request:
    """One parsed request line."""

    id: Any
    op: str
    params: dict[str, Any] = field(default_factory=dict)
    received: float = field(default_factory=time.perf_counter)  # when it was parsed (the worker's profile log)
    started: float = 0.0  # when the main thread took it up

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def require(self, name: str) -> Any:
        value = self.params.get(name)
        if value is None or value == "":
            raise BadRequest(f"{self.op}: missing parameter {name!r}")
        return value


def parse_request(line: str) -> Request:
    """Parse one line of the host's input; :class:`BadRequest` names what is wrong."""
    try:
        obj = limits.loads(line)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"not JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(obj, dict):
        raise BadRequest("a request must be a JSON object")
    rid = obj.pop("id", None)
    if isinstance(rid, (dict, list)):
        raise BadRequest("'id' must be a string, number or null")
    op = obj.pop("op", None)
    if not isinstance(op, str) or op not in OPS:
        raise BadRequest(f"unknown op {limits.shown(op)}; known: {', '.join(sorted(OPS))}", rid)
    return Request(rid, op, obj)


def encode(message: dict[str, Any]) -> str:
    """One protocol line (compact JSON, no embedded newlines, ends with a newline)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str) + "\n"


def result(rid: Any, **fields: Any) -> dict[str, Any]:
    return {"id": rid, "type": "result", **fields}


def progress(rid: Any, **fields: Any) -> dict[str, Any]:
    return {"id": rid, "type": "progress", **fields}


def error(rid: Any, message: str, kind: str = "failed", path: str | None = None,
          frame: int | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"id": rid, "type": "error", "kind": kind, "error": message}
    if path is not None:
        msg["path"] = path
    if frame is not None:
        msg["frame"] = frame
    return msg


def parse_frames(spec: str | int | Iterable[int]) -> list[int]:
    """Frame numbers from a list, one number, or Nuke's range syntax (``1001-1010``, ``1-10x2``, ``1-4 8,12``).

    >>> parse_frames("1001-1003 1010")
    [1001, 1002, 1003, 1010]
    >>> parse_frames("1-9x4")
    [1, 5, 9]
    """
    if isinstance(spec, bool):
        raise BadRequest("frames must be numbers or a range like 1001-1010")
    if isinstance(spec, int):
        return [spec]
    if not isinstance(spec, str):
        if not isinstance(spec, (list, tuple)) or any(not isinstance(f, int) or isinstance(f, bool) for f in spec):
            raise BadRequest("frames must be a list of whole numbers")
        _check_count(len(spec))
        return [int(f) for f in spec]
    frames: list[int] = []
    for part in re.split(r"[\s,]+", spec.strip()):
        if not part:
            continue
        m = _RANGE.match(part)
        if not m:
            raise BadRequest(f"bad frame range {limits.shown(part)} (use 1001, 1001-1010 or 1001-1010x2)")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3) or 1)
        if last < first or step < 1:
            raise BadRequest(f"bad frame range {part!r}")
        _check_count(len(frames) + len(range(first, last + 1, step)))
        frames.extend(range(first, last + 1, step))
    if not frames:
        raise BadRequest("no frames given")
    return frames


def _check_count(count: int) -> None:
    try:
        limits.check_frame_count(count)
    except ValueError as exc:
        raise BadRequest(f"frames: {exc}") from None
