"""Fixtures for the DeepFaceLab import tests: the real DFL sample files and helpers that write DFL-style files.

Tests may use the real ``pickle`` module to CREATE DeepFaceLab-style test files (the engine never imports it).
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest

from tests.conftest import DATA

SAMPLES = DATA / "dfl_samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/data/dfl_samples is not beside the checkout")
    return SAMPLES


def app15_segment(payload: bytes) -> bytes:
    return b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload


def strip_dfl(data: bytes) -> bytes:
    """A DFL sample's bytes without its APP15 segment (at byte 20, after the JFIF APP0)."""
    assert data[20:22] == b"\xff\xef"
    (length,) = struct.unpack(">H", data[22:24])
    return data[:20] + data[22 + length:]


def dfl_payload(data: bytes) -> bytes:
    (length,) = struct.unpack(">H", data[22:24])
    return data[24: 22 + length]


def make_dfljpg(plain_jpeg: bytes, payload: bytes) -> bytes:
    """Insert a DFL APP15 segment after the JFIF APP0 of an OpenCV JPEG (as DFL does)."""
    assert plain_jpeg[2:4] == b"\xff\xe0"
    (app0,) = struct.unpack(">H", plain_jpeg[4:6])
    at = 4 + app0
    return plain_jpeg[:at] + app15_segment(payload) + plain_jpeg[at:]


def sample_meta(samples: Path, name: str) -> dict:
    """The DFL metadata dict of a sample face, read with the real unpickler (test-only)."""
    return pickle.loads(dfl_payload((samples / "aligned" / name).read_bytes()))


def write_dfl_file(path: Path, value: object, protocol: int = 4) -> Path:
    """Write ``value`` as DFL does (a pickle of protocol 4; older DFL builds wrote 3)."""
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    return path


def xseg_dfl_weights(model) -> dict:
    """An XSegNet's parameters as DFL's XSeg_<res>.npy dict (keys like conv01/conv/weight:0, TF layouts)."""
    from engine.xseg.naming import ours_to_dfl_key, torch_to_dfl_array

    return {ours_to_dfl_key(k): torch_to_dfl_array(k, v) for k, v in model.state_dict().items()}
