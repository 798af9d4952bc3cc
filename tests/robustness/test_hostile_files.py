"""Files from someone else (issue 19): a crafted model folder, DFL pickle, mask or model.json can neither touch
anything outside its folder nor burn CPU or memory; every case fails fast with one clean line naming the file.
The crafted files are made by tests/robustness/hostile.py. Each test failed on the code before issue 19.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from engine.errors import FacecompError
from tests.conftest import DATA
from tests.robustness import hostile
from tests.robustness.conftest import assert_fails_cleanly, cli

DFL_ALIGNED = DATA / "dfl_samples" / "aligned"


def _bounded(call, seconds: float = 10.0, megabytes: int = 64) -> FacecompError:
    """Run ``call``; it must raise FacecompError within ``seconds`` and ``megabytes`` of Python allocations, with a
    one-line message of at most 400 characters."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(FacecompError) as info:
            call()
        took, peak = time.perf_counter() - t0, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert took < seconds, f"took {took:.1f} s: {message}"
    assert peak < megabytes << 20, f"allocated {peak >> 20} MB: {message}"
    assert "\n" not in message and len(message) <= 400, message[:1000]
    return info.value


# ---- 1. pending-checkpoint recovery ------------------------------------------------------------------------

def _outside(tmp_path: Path) -> dict[str, bytes]:
    victims = tmp_path / "outside"
    victims.mkdir()
    for name in ("keep.txt", "overwrite.txt", "absolute.txt"):
        (victims / name).write_bytes(f"user data {name}".encode())
    return {p.name: p.read_bytes() for p in victims.iterdir()}


def test_recovery_never_touches_files_outside_the_model_folder(tmp_path, caplog):
    from engine.training import checkpoint

    before = _outside(tmp_path)
    model = tmp_path / "model"
    pending = model / ".pending"
    (pending / "sub").mkdir(parents=True)
    (model / "outside").mkdir()
    (model / "outside" / "overwrite.txt").write_bytes(b"attacker")  # what ../outside/overwrite.txt would become
    os.symlink(tmp_path / "outside", model / "linked")  # a symlinked sub-folder
    (pending / "linked").mkdir()
    (pending / "linked" / "keep.txt").write_bytes(b"attacker")
    (pending / "model.json").write_text(json.dumps({"format": "facecomp-model", "version": 1}))
    plan = {"files": ["../outside/overwrite.txt", "linked/keep.txt", "model.json"],
            "remove": ["../outside/keep.txt", str(tmp_path / "outside" / "absolute.txt"), "linked/keep.txt"]}
    (pending / "COMPLETE").write_text(json.dumps(plan))
    with caplog.at_level(logging.WARNING, logger="facecomp"):
        checkpoint.recover(model)
    after = {p.name: p.read_bytes() for p in (tmp_path / "outside").iterdir()}
    assert after == before
    assert "ignored names that are not checkpoint files" in caplog.text
    assert not pending.exists()


def test_recovery_refuses_symlinks_in_the_plan(tmp_path, caplog):
    from engine.training import checkpoint

    before = _outside(tmp_path)
    model = tmp_path / "model"
    (model / ".pending").mkdir(parents=True)
    os.symlink(tmp_path / "outside" / "keep.txt", model / ".pending" / "model.json")  # a symlinked plan file
    (model / ".pending" / "COMPLETE").write_text(json.dumps({"files": ["model.json"]}))
    with caplog.at_level(logging.WARNING, logger="facecomp"):
        checkpoint.recover(model)
    assert not (model / "model.json").exists() and "symbolic links" in caplog.text
    link_folder = tmp_path / "model2"
    link_folder.mkdir()
    os.symlink(tmp_path / "outside", link_folder / ".pending")  # .pending itself a link to someone's folder
    with pytest.raises(FacecompError, match="symbolic link"):
        checkpoint.recover(link_folder)
    assert {p.name: p.read_bytes() for p in (tmp_path / "outside").iterdir()} == before


def test_recovery_still_finishes_an_interrupted_roll_forward(tmp_path):
    """The checks must not refuse the trainer's own save killed half-way through moving its files in."""
    from engine.training import checkpoint

    model = tmp_path / "model"
    (model / ".pending").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"new weights, already moved")
    newer = json.dumps({"format": "facecomp-model", "version": 1, "checkpoint_id": "2-new"})
    (model / ".pending" / "model.json").write_text(newer)
    (model / "model.json").write_text(json.dumps({"format": "facecomp-model", "version": 1, "checkpoint_id": "1"}))
    (model / ".pending" / "COMPLETE").write_text(json.dumps({"files": ["model.safetensors", "model.json"]}))
    checkpoint.recover(model)
    assert (model / "model.json").read_text() == newer and not (model / ".pending").exists()


# ---- 2. work bombs in the restricted unpickler -------------------------------------------------------------

@pytest.mark.parametrize("make", [hostile.shared_key_bomb, hostile.empty_container_flood, hostile.to_plain_bomb,
                                  hostile.huge_message], ids=lambda f: f.__name__)
def test_pickle_work_bombs_fail_fast(make):
    from engine.dfl.safe_unpickle import loads_dfl_data, to_plain

    data = make()
    exc = _bounded(lambda: to_plain(loads_dfl_data(data, "crafted.dat")))
    assert "crafted.dat" in str(exc)


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_real_dfl_data_passes_the_budget(protocol):
    """A DFL _data.dat as DFL writes it (a loss history of numpy float32 pairs: the densest real shape) loads."""
    from engine.dfl.safe_unpickle import loads_dfl_data, to_plain

    history = [[np.float32(i / 7), np.float32(i / 9)] for i in range(5000)]
    data = {"iter": 5000, "options": {"resolution": 128, "archi": "df-ud"}, "loss_history": history}
    loaded = to_plain(loads_dfl_data(hostile.dfl_meta_pickle(data, protocol), "model_data.dat"))
    assert loaded["iter"] == 5000 and len(loaded["loss_history"]) == 5000
    assert loaded["loss_history"][-1] == [float(np.float32(4999 / 7)), float(np.float32(4999 / 9))]


def test_refusal_messages_are_short_and_keys_plain():
    from engine.dfl.safe_unpickle import loads_dfl_data

    small_but_wordy = hostile.huge_message(levels=2, width=60)  # within budget; its repr is ~20 KB
    exc = _bounded(lambda: loads_dfl_data(small_but_wordy, "wordy.dat"))
    assert "byte order" in str(exc) and len(str(exc)) < 320
    nested_key = hostile.pickle_of(hostile.EMPTY_DICT, hostile.int1(1), hostile.TUPLE1, hostile.TUPLE1,
                                   hostile.NONE, hostile.SETITEM)
    assert "dict key" in str(_bounded(lambda: loads_dfl_data(nested_key, "key.dat")))
    plain = hostile.pickle_of(hostile.EMPTY_DICT, hostile.text("a"), hostile.int1(1), hostile.int1(2),
                              hostile.TUPLE2, hostile.SETITEM)  # {"a": (1, 2)}
    assert loads_dfl_data(plain, "ok.dat") == {"a": (1, 2)}


def _dfl_face(tmp_path: Path, payload: bytes | None = None, **changes: object) -> Path:
    """A real DFL aligned face (../shared/data/dfl_samples) with its metadata changed (as DFL would write it) or
    replaced by ``payload``."""
    from engine.dfl.dfljpg import read_dfljpg, strip_app15

    if not DFL_ALIGNED.is_dir():
        pytest.skip("../shared/data/dfl_samples is not beside the checkout")
    source = sorted(DFL_ALIGNED.glob("*.jpg"))[0]
    dfl = read_dfljpg(source)
    meta = dict(dfl.meta, **changes)
    folder = tmp_path / "dfl_aligned"
    folder.mkdir(exist_ok=True)
    out = folder / source.name
    out.write_bytes(hostile.app15_jpeg(strip_app15(dfl.data, source), payload or hostile.dfl_meta_pickle(meta)))
    return out


def test_a_dfl_face_with_a_key_bomb_is_skipped_fast(tmp_path):
    from engine.dfl.faceset_import import convert_face

    face = _dfl_face(tmp_path, hostile.shared_key_bomb(10000))  # ~61 KB: fits DFL's APP15 segment
    _bounded(lambda: convert_face(face, tmp_path / "out" / face.name))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_dfl_data_dat_reads_are_capped(tmp_path):
    src = tmp_path / "dfl_model"
    src.mkdir()
    with open(src / "big_SAEHD_data.dat", "wb") as f:
        f.truncate(300 << 20)  # sparse: no disk used
    t0 = time.perf_counter()
    res = cli("import-dfl", "model", src, tmp_path / "model")
    assert_fails_cleanly(res, "big_SAEHD_data.dat")
    assert "limit" in res.err and time.perf_counter() - t0 < 5


# ---- 5. mask decompression bombs ---------------------------------------------------------------------------

@pytest.mark.parametrize("bomb", [hostile.jpeg_header_claiming(12000, 12000),
                                  hostile.png_header_claiming(30000, 30000)], ids=["jpeg", "png"])
def test_dfl_mask_headers_are_checked_before_decoding(tmp_path, bomb, monkeypatch):
    from engine.dfl.faceset_import import convert_face

    face = _dfl_face(tmp_path, xseg_mask=np.frombuffer(bomb, np.uint8))
    decoded = _count_decodes(monkeypatch)
    exc = _bounded(lambda: convert_face(face, tmp_path / "out" / face.name))
    assert "xseg_mask declares" in str(exc) and len(decoded) == 1  # the face's pixels only, never the mask


def test_facecomp_mask_headers_are_checked_before_decoding(monkeypatch):
    import base64

    from engine.faces.faceset import decode_mask

    text = base64.b64encode(hostile.png_header_claiming(30000, 30000)).decode()
    decoded = _count_decodes(monkeypatch)
    assert "30000x30000" in str(_bounded(lambda: decode_mask(text, "face.png"))) and not decoded


def _count_decodes(monkeypatch) -> list[tuple[int, ...]]:
    """Record the shapes of the images OpenCV decodes (tracemalloc does not see OpenCV's memory)."""
    import cv2

    seen: list[tuple[int, ...]] = []
    real = cv2.imdecode

    def imdecode(buf, flags):
        image = real(buf, flags)
        seen.append(image.shape if image is not None else ())
        return image

    monkeypatch.setattr(cv2, "imdecode", imdecode)
    return seen


# ---- 9. sizes from model.json, capped reads, atomic writes -------------------------------------------------

@pytest.mark.parametrize("sizes", [{"resolution": 1 << 20}, {"resolution": 256, "base_ch": 10 ** 6},
                                   {"resolution": "256"}])
def test_xseg_model_json_sizes_are_bounded(tmp_path, sizes):
    folder = tmp_path / "xseg"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"format": "facecomp-xseg", "version": 1, "iteration": 1,
                                                   "options": {}, **sizes}))
    (folder / "model.safetensors").write_bytes(b"")
    res = cli("xseg", "export", "--model", folder, "--out", tmp_path / "x.onnx")
    assert_fails_cleanly(res, "model.json")


def test_read_meta_reads_at_most_its_cap(tmp_path):
    from engine.faces.faceset import read_meta

    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(300 << 20)
    exc = _bounded(lambda: read_meta(big), seconds=3)
    assert "big.png" in str(exc) and "larger than" in str(exc)


def test_atomic_writes_keep_permissions_and_sync_the_folder(tmp_path, monkeypatch):
    from engine import atomic

    shared = tmp_path / "shared.json"
    shared.write_text("{}")
    shared.chmod(0o660)  # a studio's group-writable file
    synced: list[bool] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real_fsync(fd)))
    atomic.write_text(shared, '{"a": 1}')
    assert stat.S_IMODE(shared.stat().st_mode) == 0o660 and shared.read_text() == '{"a": 1}'
    assert synced[-1] is True, "the folder was not fsynced after the rename"
    umask = os.umask(0)
    os.umask(umask)
    atomic.write_text(tmp_path / "new.json", "{}")
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o666 & ~umask
