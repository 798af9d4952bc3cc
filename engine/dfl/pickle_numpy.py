"""Numpy dtypes and arrays rebuilt from the state a DFL pickle gives them (engine/dfl/safe_unpickle.py):
plain numeric and text dtypes only, arrays copied out of their raw bytes with ``np.frombuffer``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.dfl.unpickle_budget import Refused as _Refused
from engine.dfl.unpickle_budget import shown

MAX_NDIM = 32
# plain numeric/text dtypes only (no object 'O', no structured 'V', no datetimes)
_DTYPE_KINDS = set("biufcSU")


def plain_dtype(spec: str) -> np.dtype:
    if len(spec) > 16:
        raise _Refused(f"numpy dtype {spec[:16]!r}...")
    try:
        dt = np.dtype(spec)
    except TypeError:
        raise _Refused(f"numpy dtype {shown(spec)}") from None
    if dt.kind not in _DTYPE_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise _Refused(f"numpy dtype {shown(spec)} (only plain numbers and text are accepted)")
    return dt


def dtype_from_state(base: np.dtype, state: Any) -> np.dtype:
    if not isinstance(state, tuple) or len(state) < 3 or state[0] not in (3, 4):
        raise _Refused("numpy dtype state not understood")
    order = state[1]
    if order not in ("<", ">", "|", "="):
        raise _Refused(f"numpy dtype byte order {shown(order)}")
    if any(x is not None for x in state[2:5]):
        raise _Refused("structured numpy dtypes are not accepted")
    if base.kind in "SU" and len(state) >= 6 and isinstance(state[5], int) and state[5] > 0:
        base = np.dtype((base.type, state[5] // (4 if base.kind == "U" else 1)))
    return base.newbyteorder(order) if order in "<>" else base


def array_from_state(state: Any) -> np.ndarray:
    if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
        raise _Refused("numpy array state not understood")
    _, shape, dt, fortran, raw = state
    if not isinstance(dt, np.dtype):
        raise _Refused("numpy array without a dtype")
    if not isinstance(raw, bytes):
        raise _Refused("numpy array with object data (only plain numbers and text are accepted)")
    if not isinstance(shape, tuple) or len(shape) > MAX_NDIM:
        raise _Refused("numpy array shape not understood")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise _Refused(f"numpy array shape {shown(shape)}")
    count = math.prod(shape)
    if count * dt.itemsize != len(raw):
        raise _Refused(f"numpy array {shown(shape)} {dt} has {len(raw)} bytes of data")
    arr = np.frombuffer(raw, dt, count=count).reshape(shape, order="F" if fortran else "C")
    return arr.copy(order="K")
