"""A restricted reader for DeepFaceLab's pickled data (DFLJPG metadata, model ``.npy``/``.dat`` files).

DeepFaceLab stores metadata and weights as Python pickles, which can run arbitrary code when loaded the
usual way. This module never uses the standard unpickler: it walks the opcodes with
:func:`pickletools.genops` and runs its own small stack machine that knows only what DFL files contain:

- protocols 2-4 as written by Python 3: dict, list, tuple, str, bytes, int, float, bool, None and the memo;
- numpy arrays and scalars, rebuilt here from their raw bytes with ``np.frombuffer``. The only globals
  accepted are ``numpy.core.multiarray._reconstruct`` / ``.scalar`` (also spelled ``numpy._core``),
  ``numpy.ndarray``, ``numpy.dtype``, and for protocol 2 the two byte-string helpers ``_codecs.encode``
  (latin-1 only) and ``builtins.bytes`` (empty only). None of them is ever imported or called: each is a
  marker that this module interprets itself.

Everything else (other globals, object construction opcodes, persistent ids, object arrays, structured
dtypes) is refused with a :class:`FacecompError` naming the file. Size limits bound the file, integers,
array shapes and nesting depth, and one budget per file (engine/dfl/unpickle_budget.py) bounds the objects,
bytes and work a file may cost, so a small crafted file cannot burn CPU or memory and the result is safe to
walk recursively. Dict keys must be plain (text, numbers, small tuples of them).
"""

from __future__ import annotations

import io
import os
import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.dfl.pickle_numpy import array_from_state, dtype_from_state, plain_dtype
from engine.dfl.unpickle_budget import Budget, check_key, shown
from engine.dfl.unpickle_budget import Refused as _Refused
from engine.errors import FacecompError

MAX_FILE_BYTES = 8 << 30  # the biggest DFL weight files (res 640, ae 1024) stay far below this
MAX_DEPTH = 64  # nesting of containers
MAX_VALUES = 20_000_000  # values reachable from the result, counting shared ones each time they appear
MAX_LONG_BYTES = 64  # arbitrary-size integers (LONG1/LONG4)

_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED_GLOBALS = {
    **{(m, "_reconstruct"): "reconstruct" for m in _NUMPY_CORE},
    **{(m, "scalar"): "scalar" for m in _NUMPY_CORE},
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "codecs_encode",
    ("builtins", "bytes"): "bytes",
    ("__builtin__", "bytes"): "bytes",
}


@dataclass(frozen=True)
class _Global:
    """An accepted global, never imported: the stack machine interprets it by name."""

    name: str


class _Pending:
    """An object created by REDUCE that becomes a real value on BUILD (numpy array or dtype)."""

    def __init__(self, kind: str, base: Any = None):
        self.kind = kind  # "array" | "dtype"
        self.base = base  # for dtype: the np.dtype before its byte order is applied
        self.value: Any = None
        self.built = False


class _Mark:
    """The MARK sentinel on the stack."""


_MARK = _Mark()


def _operand(arg: Any | None, name: str) -> Any:
    """The operand genops decoded for opcode ``name`` (one that takes an operand: it is never None)."""
    if arg is None:
        raise _Refused(f"{name} without its operand")
    return arg


def read_limited(path: str | os.PathLike[str], max_bytes: int, what: str = "DeepFaceLab data") -> bytes:
    """The bytes of ``path``, refusing files over ``max_bytes``; FacecompError naming the file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise FacecompError(f"file is {size} bytes, over the {max_bytes}-byte limit for {what}", p)
        return p.read_bytes()
    except OSError as exc:
        raise FacecompError(f"cannot read ({exc.strerror})", p) from None


def read_dfl_data(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Read one DFL pickled file (``*.npy`` weights, ``*.dat``) safely; FacecompError naming ``path``."""
    return loads_dfl_data(read_limited(path, max_bytes), path)


def loads_dfl_data(data: bytes, source: str | os.PathLike[str] | None = None, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Decode DFL pickled ``data`` (``source`` names it in errors) without running any code."""
    if len(data) > max_bytes:
        raise FacecompError(f"data is {len(data)} bytes, over the {max_bytes}-byte limit", source)
    if not data:
        raise FacecompError("empty DeepFaceLab data", source)
    try:
        return _Machine(len(data)).run(data)
    except _Refused as exc:
        raise FacecompError(f"refused DeepFaceLab data: {exc}", source) from None
    except (ValueError, TypeError, KeyError, IndexError, EOFError, OverflowError, MemoryError,
            UnicodeDecodeError) as exc:
        raise FacecompError(f"damaged DeepFaceLab data ({type(exc).__name__}: {str(exc)[:200]})", source) from None
    except RecursionError:
        raise FacecompError("refused DeepFaceLab data: nested too deeply", source) from None


def to_plain(value: Any) -> Any:
    """Numpy scalars -> Python numbers and tuples -> lists, recursively (arrays are kept as arrays)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


class _Machine:
    """The stack machine: one instance per file."""

    def __init__(self, size: int) -> None:
        self.budget = Budget(size)
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.frozen: set[int] = set()  # ids of containers already placed inside another value
        self.weight: dict[int, tuple[int, int]] = {}  # id(container) -> (depth, values reachable)
        self.keep: list[Any] = []  # keeps every container alive so ids stay unique
        self.args_only: set[int] = set()  # ids of tuples holding a global: call arguments only

    # ---- helpers ----
    def pop(self) -> Any:
        if not self.stack:
            raise _Refused("stack underflow")
        v = self.stack.pop()
        if v is _MARK:
            raise _Refused("unexpected MARK")
        return v

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _Refused("no MARK")
        at = self.marks.pop()
        items = self.stack[at + 1:]
        del self.stack[at:]  # the items and the MARK
        if any(v is _MARK for v in items):
            raise _Refused("nested MARK")
        return items

    def resolve(self, v: Any) -> Any:
        """The real value of a stack/memo entry (pending objects must have been built)."""
        if isinstance(v, tuple) and id(v) in self.args_only:
            raise _Refused("a global used as a value")
        if isinstance(v, _Pending):
            if not v.built:
                raise _Refused(f"numpy {v.kind} used before its state was set")
            return v.value
        if isinstance(v, _Global):
            raise _Refused(f"global {v.name} used as a value")
        return v

    def new_container(self, c: Any) -> Any:
        self.budget.spend_object()
        self.keep.append(c)
        self.weight[id(c)] = (1, 1)
        return c

    def check_target(self, c: Any, kind: type) -> None:
        if not isinstance(c, kind):
            raise _Refused(f"{kind.__name__} operation on {type(c).__name__}")
        if id(c) in self.frozen:
            raise _Refused(f"{kind.__name__} modified after use (recursive structures are not DFL data)")

    def adopt(self, parent: Any, items: list[Any]) -> None:
        """Account for ``items`` being placed in container ``parent``: depth/size limits, freezing."""
        self.budget.spend_work(len(items))
        depth, count = self.weight[id(parent)]
        for it in items:
            if it is parent:
                raise _Refused("container placed inside itself")
            if id(it) in self.args_only:
                raise _Refused("a global used as a value")
            d, n = self.weight.get(id(it), (0, 1))
            if id(it) in self.weight:
                self.frozen.add(id(it))
            depth = max(depth, d + 1)
            count += n
        if depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH}")
        if count > MAX_VALUES:
            raise _Refused(f"more than {MAX_VALUES} values")
        self.budget.check_tree(count)
        self.weight[id(parent)] = (depth, count)

    def make_tuple(self, items: list[Any]) -> tuple:
        """A tuple; one holding an accepted global may only serve as call arguments (``args_only``)."""
        vals = [v if isinstance(v, _Global) else self.resolve(v) for v in items]
        t = tuple(vals)
        self.new_container(t)
        self.adopt(t, vals)
        if any(isinstance(v, _Global) for v in vals):
            self.args_only.add(id(t))
        return t

    # ---- numpy ----
    def reduce(self, func: Any, args: Any) -> Any:
        if not isinstance(func, _Global):
            raise _Refused(f"call of a non-global ({type(func).__name__})")
        if not isinstance(args, tuple):
            raise _Refused("call arguments are not a tuple")
        name = func.name
        if name == "reconstruct":
            if len(args) != 3 or args[0] != _Global("ndarray") or not isinstance(args[2], bytes):
                raise _Refused("numpy _reconstruct with unexpected arguments")
            self.budget.spend_object()
            return _Pending("array")
        if name == "dtype":
            if len(args) not in (1, 3) or not isinstance(args[0], str):
                raise _Refused("numpy dtype with unexpected arguments")
            self.budget.spend_object()
            return _Pending("dtype", plain_dtype(args[0]))
        if name == "scalar":
            if len(args) != 2 or not isinstance(args[0], np.dtype) or not isinstance(args[1], bytes):
                raise _Refused("numpy scalar with unexpected arguments")
            dt, raw = args
            if len(raw) != dt.itemsize:
                raise _Refused(f"numpy scalar of {dt} has {len(raw)} bytes")
            return np.frombuffer(raw, dt)[0].copy()
        if name == "codecs_encode":
            if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
                raise _Refused("_codecs.encode with unexpected arguments")
            self.budget.spend_bytes(len(args[0]))
            return args[0].encode("latin-1")
        if name == "bytes":
            if args:
                raise _Refused("bytes() with arguments")
            return b""
        raise _Refused(f"call of {name}")

    def build(self, obj: Any, state: Any) -> Any:
        if not isinstance(obj, _Pending) or obj.built:
            raise _Refused(f"BUILD on {type(obj).__name__} (only numpy arrays and dtypes are accepted)")
        if obj.kind == "dtype":
            obj.value = dtype_from_state(obj.base, state)
        else:
            if isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], bytes):
                self.budget.spend_bytes(len(state[4]))  # the array is a copy of these bytes
            obj.value = array_from_state(state)
        obj.built = True
        return obj.value

    # ---- the loop ----
    def run(self, data: bytes) -> Any:
        st = self.stack
        spend = self.budget.spend_work
        for op, arg, _pos in pickletools.genops(io.BytesIO(data)):
            spend()
            name = op.name
            if name in ("PROTO", "FRAME"):
                if name == "PROTO" and not 2 <= _operand(arg, name) <= 4:
                    raise _Refused(f"protocol {arg} (DeepFaceLab writes 2-4)")
            elif name == "STOP":
                if len(st) != 1 or self.marks:
                    raise _Refused("stack not empty at STOP")
                return self.resolve(st.pop())
            elif name == "MARK":
                self.marks.append(len(st))
                st.append(_MARK)
            elif name == "POP":
                if st and st[-1] is _MARK:
                    self.marks.pop()
                    st.pop()
                else:
                    self.pop()
            elif name == "POP_MARK":
                self.pop_mark()
            elif name == "DUP":
                if not st or st[-1] is _MARK:
                    raise _Refused("DUP of nothing")
                st.append(st[-1])
            elif name == "NONE":
                st.append(None)
            elif name in ("NEWTRUE", "NEWFALSE"):
                st.append(name == "NEWTRUE")
            elif name in ("BININT", "BININT1", "BININT2"):
                st.append(int(_operand(arg, name)))
            elif name in ("LONG1", "LONG4"):
                value = _operand(arg, name)
                if abs(value).bit_length() > 8 * MAX_LONG_BYTES:
                    raise _Refused("integer too large")
                st.append(int(value))
            elif name == "BINFLOAT":
                st.append(float(_operand(arg, name)))
            elif name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"):
                text = _operand(arg, name)
                self.budget.spend_bytes(len(text))
                st.append(str(text))
            elif name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
                raw = _operand(arg, name)
                self.budget.spend_bytes(len(raw))
                st.append(bytes(raw))
            elif name == "EMPTY_LIST":
                st.append(self.new_container([]))
            elif name == "EMPTY_DICT":
                st.append(self.new_container({}))
            elif name == "EMPTY_TUPLE":
                st.append(self.make_tuple([]))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = [self.pop() for _ in range(n)][::-1]
                st.append(self.make_tuple(items))
            elif name == "TUPLE":
                items = self.pop_mark()
                st.append(self.make_tuple(items))
            elif name == "LIST":
                items = [self.resolve(v) for v in self.pop_mark()]
                lst = self.new_container(items)
                self.adopt(lst, items)
                st.append(lst)
            elif name == "DICT":
                items = [self.resolve(v) for v in self.pop_mark()]
                d = self.new_container({})
                self.set_items(d, items)
                st.append(d)
            elif name in ("APPEND", "APPENDS"):
                items = [self.pop()] if name == "APPEND" else self.pop_mark()
                target = self.pop()
                self.check_target(target, list)
                vals = [self.resolve(v) for v in items]
                self.adopt(target, vals)
                target.extend(vals)
                st.append(target)
            elif name in ("SETITEM", "SETITEMS"):
                if name == "SETITEM":
                    v = self.pop()
                    k = self.pop()
                    items = [k, v]
                else:
                    items = self.pop_mark()
                target = self.pop()
                self.check_target(target, dict)
                self.set_items(target, [self.resolve(v) for v in items])
                st.append(target)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                if not st or st[-1] is _MARK:
                    raise _Refused("memo store of nothing")
                idx = len(self.memo) if name == "MEMOIZE" else int(_operand(arg, name))
                self.memo[idx] = st[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                idx = int(_operand(arg, name))
                if idx not in self.memo:
                    raise _Refused(f"memo {arg} read before it was written")
                st.append(self.memo[idx])  # resolved where it is used
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = str(arg).partition(" ")
                else:
                    attr, module = self.pop(), self.pop()
                    if not isinstance(module, str) or not isinstance(attr, str):
                        raise _Refused("STACK_GLOBAL of non-strings")
                key = (module, attr)
                if key not in _ALLOWED_GLOBALS:
                    raise _Refused(f"global {shown(module)[1:-1]}.{shown(attr)[1:-1]} is not allowed (only numpy "
                                   "arrays and plain data)")
                st.append(_Global(_ALLOWED_GLOBALS[key]))
            elif name == "REDUCE":
                args = self.pop()
                func = self.pop()
                st.append(self.reduce(func, args))
                self.budget.refund_object()  # the argument tuple is spent (numpy scalars: one per value)
            elif name == "BUILD":
                state = self.resolve(self.pop())
                obj = self.pop()
                st.append(self.build(obj, state))
            else:
                raise _Refused(f"opcode {name} is not allowed")
        raise _Refused("no STOP opcode")

    def set_items(self, d: dict, items: list[Any]) -> None:
        if len(items) % 2:
            raise _Refused("odd number of dict items")
        for k in items[::2]:
            check_key(k)
        self.adopt(d, items)
        for k, v in zip(items[::2], items[1::2], strict=True):
            d[k] = v

