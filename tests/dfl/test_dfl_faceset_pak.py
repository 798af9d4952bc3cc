"""``facecomp faceset unpack faceset.pak``: DeepFaceLab's packed faceset, read without running its pickle."""

from __future__ import annotations

import enum
import pickle
import struct
from pathlib import Path

from engine.faces.faceset import list_faces, read_meta
from tests.conftest import assert_clean_error, run_facecomp


class SampleType(enum.IntEnum):
    """Stands in for DFL's enum: its pickled global is one the restricted reader refuses."""

    FACE = 1


def write_dfl_pak(path: Path, faces: list[Path], enum_type: bool) -> Path:
    """A faceset.pak in DFL's layout: <Q version 1><Q n><pickled sample list><(N+1) Q offsets><files>."""
    configs = [{"sample_type": SampleType.FACE if enum_type else 1, "filename": f.name, "face_type": 4,
                "shape": (256, 256, 3), "source_filename": f"{f.stem}.png"} for f in faces]
    blob = pickle.dumps(configs, 4)
    data = [f.read_bytes() for f in faces]
    offsets, at = [], 8 * (len(faces) + 1)
    for d in data:
        offsets.append(at)
        at += len(d)
    offsets.append(at)
    path.write_bytes(struct.pack("<QQ", 1, len(blob)) + blob + struct.pack(f"<{len(offsets)}Q", *offsets)
                     + b"".join(data))
    return path


def test_dfl_pak_unpacks_to_facecomp_faces_with_their_names(samples, tmp_path):
    faces = sorted((samples / "aligned").glob("*.jpg"))
    for enum_type in (False, True):  # a plain pickle, and one with DFL's enum (names read from the opcodes)
        pak = write_dfl_pak(tmp_path / f"faceset_{enum_type}.pak", faces, enum_type)
        out = tmp_path / f"aligned_{enum_type}"
        res = run_facecomp("faceset", "unpack", pak, "--out", out)
        assert f"{len(faces)} faces" in res.out and "not readable" not in res.err
        got = list_faces(out)
        assert [p.name for p in got] == [f.name for f in faces]
        assert read_meta(got[0]).face_type == "whole_face"
    damaged = tmp_path / "bad.pak"
    damaged.write_bytes(pak.read_bytes()[:200])
    assert_clean_error(run_facecomp("faceset", "unpack", damaged, "--out", tmp_path / "x", check=False),
                       "faceset.pak")
    assert not (tmp_path / "x").exists()
