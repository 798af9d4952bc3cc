"""host_kit.track.face_names on tracks the engine wrote: a track with XSeg masks (tens of MB) is named from the
head of its file (the header's ``identities`` and ``names``), tracks written before that header are read whole,
and every layout of the same JSON gives the engine's names (Track.face_names)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import host_kit.track as hk_track
from engine.swap.track import Track, TrackFrame

FRAMES_IN_BIG_TRACK = 600


class _CountingFile:
    """A file opened by host_kit.track that counts the bytes read from it."""

    read_bytes = 0

    def __init__(self, path: str, mode: str):
        self._fh = open(path, mode)  # noqa: SIM115 - closed by __exit__, as the with block of face_names does

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        _CountingFile.read_bytes += len(data)
        return data

    def seek(self, *args: int) -> int:
        return self._fh.seek(*args)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[_CountingFile]:
    """host_kit.track's open counts what it reads."""
    _CountingFile.read_bytes = 0
    monkeypatch.setattr(hk_track, "open", _CountingFile, raising=False)
    return _CountingFile


@pytest.fixture(scope="module")
def xseg_track(media, tmp_path_factory) -> Path:
    """The real `facecomp track --xseg-model` on two frames of the plate: a track with an XSeg mask per face."""
    from tests.conftest import run_facecomp
    from tests.swap.conftest import export_xseg

    d = tmp_path_factory.mktemp("xseg_track")
    path = d / "t.json"
    run_facecomp("track", media["plate"], "--out", path, "--frames", "1001-1002", "--xseg-model",
                 export_xseg(d / "xseg.onnx"))
    return path


@pytest.fixture(scope="module")
def big_track(xseg_track, tmp_path_factory) -> Path:
    """A long shot's track with XSeg masks: the real track's frames (mask included) repeated over
    FRAMES_IN_BIG_TRACK frames, a second person on every other frame, written by the engine's writer, then the
    first person renamed by one edit of the file's ``names`` table, as a user does it."""
    small = Track.load(xseg_track)
    first, second = small.frames[1001].faces[0], replace(small.frames[1002].faces[0], id=3, identity=3)
    frames = {n: TrackFrame(n, f"{n:05d}", [first] if n % 2 else [first, second])
              for n in range(1, FRAMES_IN_BIG_TRACK + 1)}
    path = tmp_path_factory.mktemp("big_track") / "big.track.json"
    Track(frames, small.source, None, small.image_size, small.fps, small.smoothing, xseg=small.xseg).save(path)
    text = path.read_text(encoding="utf-8")
    assert second.xseg_mask and text.count(second.xseg_mask) == FRAMES_IN_BIG_TRACK // 2
    path.write_text(text.replace('"names":{"0":"face0"', '"names":{"0":"hero"', 1), encoding="utf-8")
    return path


def test_a_big_track_is_named_from_its_header(big_track, counted):
    size = big_track.stat().st_size
    assert size > 8 << 20, f"{size} bytes: not a big track"
    names = hk_track.face_names(str(big_track))
    assert names == Track.load(big_track).face_names == ["hero", "face3"]
    assert 0 < counted.read_bytes <= hk_track.HEAD_BYTES < size // 100


def test_an_old_track_without_the_header_list_is_read_whole(xseg_track, tmp_path, counted):
    """A track written before the header's ``identities``: the names come from its frames, as before."""
    data = json.loads(xseg_track.read_text(encoding="utf-8"))
    del data["identities"]
    data["names"] = {"0": "singer"}
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    assert hk_track.face_names(str(old)) == Track.load(old).face_names == ["singer"]
    assert counted.read_bytes >= old.stat().st_size


@pytest.mark.parametrize("layout", [{"indent": 2}, {"sort_keys": True}, {"separators": (", ", " : ")}])
def test_any_layout_of_the_json_gives_the_engines_names(xseg_track, tmp_path, layout):
    """Pretty-printed, re-ordered (``frames`` before ``identities``: the file is then read whole) or spaced out
    by an editor: the same names as the engine's."""
    data = json.loads(xseg_track.read_text(encoding="utf-8"))
    data["names"]["0"] = "hero"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data, **layout), encoding="utf-8")
    assert hk_track.face_names(str(path)) == Track.load(path).face_names == ["hero"]


def test_a_header_longer_than_the_first_read(xseg_track, tmp_path, counted):
    """A header past HEAD_BYTES (a long source path) is read on until it ends, not taken half."""
    data = json.loads(xseg_track.read_text(encoding="utf-8"))
    data = {"source": "/shots/" + "x" * (3 * hk_track.HEAD_BYTES), **{k: v for k, v in data.items() if k != "source"}}
    path = tmp_path / "long.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert hk_track.face_names(str(path)) == Track.load(path).face_names == ["face0"]
    assert counted.read_bytes > 2 * hk_track.HEAD_BYTES


@pytest.mark.parametrize("text", ["", "{", '{"names": {}, "identities": [0]}', "[1, 2]", '{"frames": 3}'])
def test_not_a_track_is_one_line(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: not a") as err:
        hk_track.face_names(str(path))
    assert "\n" not in str(err.value)
