"""The restricted reader for DFL's pickled files: real samples decode exactly, anything else is refused."""

from __future__ import annotations

import os
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest

from engine.dfl.safe_unpickle import loads_dfl_data, read_dfl_data, to_plain
from engine.errors import FacecompError


def _same(a, b) -> bool:
    """Deep equality that also compares numpy dtypes and scalar types."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _sample_files(samples: Path) -> list[Path]:
    return sorted(samples.rglob("*.npy")) + sorted(samples.rglob("*.dat"))


def test_real_samples_match_the_standard_reader(samples):
    files = _sample_files(samples)
    assert len(files) == 12
    for f in files:
        ours, ref = read_dfl_data(f), pickle.loads(f.read_bytes())
        assert _same(ours, ref), f.name
    enc = read_dfl_data(samples / "models/saehd_liae_ud/liaeud_SAEHD_encoder.npy")
    w = enc["down1/downs_0/conv1/weight:0"]
    assert w.shape == (5, 5, 3, 16) and w.dtype == np.float32 and w.flags.writeable


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_older_protocols_and_numpy2_spelling(samples, protocol):
    """A protocol 2/3 re-dump (numpy 2 writes numpy._core.multiarray; protocol 2 adds _codecs.encode)."""
    for name in ("saehd_df_ud/dfud_SAEHD_data.dat", "saehd_df_ud/dfud_SAEHD_inter.npy",
                 "saehd_liae_ud/SAEHD_default_options.dat"):
        ref = pickle.loads((samples / "models" / name).read_bytes())
        data = pickle.dumps(ref, protocol=protocol)
        globals_used = {arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
        if protocol == 2:
            assert "_codecs encode" in globals_used
        assert _same(loads_dfl_data(data, name), ref), (name, protocol)


def test_plain_values_and_arrays_round_trip():
    value = {"u": np.array(["abc", "de"]), "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
             "be": np.arange(4, dtype=">i4"), "b": np.array([True, False]), "z": np.array(3.5),
             "e": np.zeros((0, 3), np.float32), "empty": b"", "bytes": b"xy", "big": 2**70, "neg": -5,
             "t": (1, (2, 3.5)), "n": None, "s": np.float16(0.5), "k": {(1, 2): [1, [2]]}, "long": list(range(3000))}
    for protocol in (2, 3, 4):
        assert _same(loads_dfl_data(pickle.dumps(value, protocol=protocol), "x.dat"), value)


def test_to_plain_turns_numpy_scalars_into_python_numbers(samples):
    opts = to_plain(read_dfl_data(samples / "models/saehd_liae_ud/liaeud_SAEHD_data.dat")["options"])
    assert type(opts["resolution"]) is int and opts["resolution"] == 64
    assert type(opts["gan_power"]) is float and opts["archi"] == "liae-ud"


class _RunsCommand:
    """Pickles to a call of os.system: loading it with the standard reader would run the command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').getpid()",))


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_code_running_payloads_are_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil_SAEHD_encoder.npy"
    for payload in ({"x": _RunsCommand(marker)}, [_Eval()], _RunsCommand(marker)):
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
        with pytest.raises(FacecompError) as exc:
            read_dfl_data(path)
        assert str(path) in str(exc.value) and "not allowed" in str(exc.value)
    assert not marker.exists()


def _hand(*ops: bytes) -> bytes:
    return b"\x80\x04" + b"".join(ops) + b"."


@pytest.mark.parametrize("data, reason", [
    (pickle.dumps(np.array([1, "a", None], dtype=object)), "dtype 'O8'"),
    (pickle.dumps(np.zeros(2, dtype=[("a", "i4")])), "dtype 'V4'"),
    (pickle.dumps({1, 2}), "EMPTY_SET"),
    (pickle.dumps(__import__("collections").OrderedDict(a=1)), "collections.OrderedDict"),
    (pickle.dumps({"a": 1}, protocol=5), "protocol 5"),
    # BUILD on a plain dict (would set attributes on an object in the standard reader)
    (_hand(b"}", b"}", b"b"), "BUILD on dict"),
    # REDUCE of a non-global
    (_hand(b"}", b")", b"R"), "call of a non-global"),
    # numpy reconstruct of something other than ndarray
    (_hand(b"\x8c\x15numpy.core.multiarray", b"\x8c\x0c_reconstruct", b"\x93",
           b"\x8c\x05numpy", b"\x8c\x05dtype", b"\x93", b"K\x00\x85", b"C\x01b", b"\x87", b"R"),
     "unexpected arguments"),
    # memo read before write, odd dict items
    (_hand(b"h\x05"), "memo 5"),
    (_hand(b"}", b"(", b"K\x01", b"u"), "odd number"),
    # an array whose data is shorter than its shape says
    (pickle.dumps(np.zeros(4, np.float32), protocol=4).replace(b"C\x10" + bytes(16), b"C\x0c" + bytes(12)),
     "has 12 bytes"),
])
def test_other_unsafe_or_foreign_data_is_refused(data, reason):
    with pytest.raises(FacecompError) as exc:
        loads_dfl_data(data, "bad.dat")
    assert str(exc.value).startswith("bad.dat: ") and reason in str(exc.value), str(exc.value)


def test_recursive_huge_and_deep_structures_are_refused():
    rec: list = []
    rec.append(rec)
    a: list = []
    a.append([a])
    d: dict = {}
    d["d"] = d
    laughs: list = [1]
    for _ in range(40):
        laughs = [laughs, laughs]  # 2**40 values when walked, a few hundred bytes stored
    deep: list = [1]
    for _ in range(100):
        deep = [deep]
    for value, reason in ((rec, "inside itself"), ([a], "after use"), (d, "inside itself"),
                          (laughs, "more than"), (deep, "nesting deeper")):
        with pytest.raises(FacecompError, match=reason):
            loads_dfl_data(pickle.dumps(value, protocol=4), "x.dat")


def test_damaged_data_is_a_clean_error(tmp_path):
    good = pickle.dumps({"a": np.zeros(3, np.float32)}, protocol=4)
    for bad in (good[:-1], good[:60], b"\x80\x04garbage", b"not a pickle at all"):
        with pytest.raises(FacecompError, match="x.npy: (damaged|refused)"):
            loads_dfl_data(bad, "x.npy")
    with pytest.raises(FacecompError, match="empty"):
        loads_dfl_data(b"", "x.npy")
    with pytest.raises(FacecompError, match="cannot read"):
        read_dfl_data(tmp_path / "missing.npy")
    big = tmp_path / "big.npy"
    big.write_bytes(good)
    with pytest.raises(FacecompError, match="limit"):
        read_dfl_data(big, max_bytes=10)
