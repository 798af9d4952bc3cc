"""`facecomp worker` (real process, real frames) driven by the hosts' stdlib client (host_kit/client.py)
and by raw JSON lines: rendering, errors as messages, cancel, busy pings, crash and hang detection."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hostkit import FRAMES, HERE, WORKING_SPACE, facecomp_exe, read_exr

from engine.worker.protocol import BadRequest, parse_frames
from host_kit import client as fc


@pytest.fixture(scope="module")
def worker():
    w = fc.WorkerClient(fc.facecomp_command(facecomp_exe()))
    w.start()
    yield w
    w.close()


def _render(worker, media, out, frames=FRAMES, **extra):
    params = dict(plate=str(media["plate"]), frames=frames, out=str(out / "fs.%04d.exr"), model=str(media["model"]),
                  working_space=WORKING_SPACE)
    params.update(extra)
    return worker.render(**params)


def test_parse_frames_accepts_nuke_ranges():
    assert parse_frames("1001-1003, 1010") == [1001, 1002, 1003, 1010]
    assert parse_frames("1-9x4 20") == [1, 5, 9, 20]
    assert parse_frames([3, 1]) == [3, 1]
    for bad in ("1001-", "10-1", "a", "", [True]):
        with pytest.raises(BadRequest):
            parse_frames(bad)


def test_hello_and_load_report_the_providers_in_use(worker, media):
    assert worker.info["protocol"] == 1 and worker.info["pid"] == worker.pid
    assert "CPUExecutionProvider" in worker.info["providers_available"]
    loaded = worker.load(str(media["model"]), "cpu")
    assert loaded["providers"] == ["CPUExecutionProvider"]
    assert loaded["resolution"] == 64 and loaded["face_type"] == "whole_face" and loaded["morph"] is False


def test_render_writes_exr_passes_and_is_stateless(worker, media, tmp_path):
    seen = []
    reply = _render(worker, media, tmp_path / "full", on_progress=seen.append, overrides={"blur": 20})
    assert [m["frame"] for m in seen] == FRAMES and [m["done"] for m in seen] == [1, 2, 3, 4, 5]
    assert reply["frames"] == FRAMES and reply["faces"] == 5 and reply["providers"] == ["CPUExecutionProvider"]
    default = read_exr(tmp_path / "full" / "fs.1003.exr")
    assert {"face.R", "face.G", "face.B", "facemask.A"} <= set(default) and not {"R", "mask.A"} & set(default), \
        "by default: the passes, no merged rgba (CONTRACTS.md)"
    _render(worker, media, tmp_path / "full", frames="1003", overrides={"blur": 20}, passes="rgba,face,mask")
    _render(worker, media, tmp_path / "alone", frames="1003", overrides={"blur": 20}, passes=["rgba", "face", "mask"])
    full, alone = read_exr(tmp_path / "full" / "fs.1003.exr"), read_exr(tmp_path / "alone" / "fs.1003.exr")
    assert {"R", "G", "B", "A", "face.R", "face.G", "face.B", "facemask.A"} <= set(full)
    assert full["__format__"] == "half"
    for ch in ("R", "G", "B", "face.R", "facemask.A"):
        np.testing.assert_array_equal(full[ch], alone[ch])
    # the image passes are half in both (the default file keeps its 32-bit Cryptomatte ids and STMap in a second
    # part, docs/merge.md): the same mask
    assert default["__format__"] == "half"
    np.testing.assert_array_equal(full["facemask.A"], default["facemask.A"])
    plate = read_exr(str(media["plate"]) % 1003)
    inside = full["facemask.A"] > 0.99
    assert inside.sum() > 500 and np.abs(full["R"][inside] - plate["R"][inside]).mean() > 0.02
    assert np.array_equal(full["R"][full["facemask.A"] == 0], plate["R"][full["facemask.A"] == 0])


def test_hello_publishes_the_option_tables(worker):
    from engine.swap.settings import MERGE_OPTIONS
    from host_kit.options import OptionTables

    tables = OptionTables.from_hello(worker.info)
    assert tables.names("merge") == [o.name for o in MERGE_OPTIONS]
    erode = next(o for o in MERGE_OPTIONS if o.name == "erode")
    assert tables.range("erode") == (erode.low, erode.high) and tables.help("erode") == erode.help
    assert tables.choices("mask_mode")[1] == "dst" and tables.default("mode") == "overlay"
    assert tables.default("faces") == "all" and "whole_face" in tables.choices("face_type")
    assert tables.default("passes") == "face,facemask,mattes,crypto,stmap"
    assert tables.default("exr_layout") == "parts" and tables.choices("exr_layout") == ["parts", "single"]


@pytest.mark.parametrize("request_, message", [
    ({"op": "render", "frames": [1], "out": "x.%04d.exr"}, "missing parameter 'plate'"),
    ({"op": "render", "plate": "p.%04d.exr", "frames": "1-", "out": "x.%04d.exr"}, "bad frame range"),
    ({"op": "render", "plate": "p.%04d.exr", "frames": [1, 2], "out": "x.exr"}, "no frame pattern"),
    ({"op": "render", "plate": "p.%04d.exr", "frames": [1], "out": "x.%04d.exr", "overrides": 3}, "overrides"),
    ({"op": "explode"}, "unknown op 'explode'"),
    ({"op": "render", "plate": "p.%04d.exr", "frames": [1], "out": "x.%04d.exr", "passes": "face,beauty"},
     r"unknown pass\(es\) beauty"),
    ({"op": "render", "plate": "p.%04d.exr", "frames": [1], "out": "x.%04d.exr", "exr_layout": "tiles"},
     r"exr_layout: unknown EXR layout 'tiles'; use parts or single"),
])
def test_bad_requests_are_answered_with_errors(worker, request_, message):
    with pytest.raises(fc.WorkerError, match=message) as info:
        worker.request(request_.pop("op"), timeout=30, **request_)
    assert info.value.kind == "bad_request"
    assert worker.ping()["pong"] is True


def test_failed_frames_and_missing_models_name_the_file(worker, media, tmp_path):
    with pytest.raises(fc.WorkerError) as info:
        _render(worker, media, tmp_path, frames=[1001, 999])
    assert info.value.frame == 999 and info.value.path == str(media["plate"]) and "999" in str(info.value)
    assert (tmp_path / "fs.1001.exr").is_file(), "frames before the failing one are written"
    with pytest.raises(fc.WorkerError) as info:
        _render(worker, media, tmp_path, frames=[1001], overrides={"erode": 999})
    assert str(info.value) == "settings: option erode: 999 outside -400..400", "named as settings, not as --set"
    with pytest.raises(fc.WorkerError, match=r"^settings: unknown merge option 'eroded'"):
        _render(worker, media, tmp_path, frames=[1001], overrides={"eroded": 1})
    with pytest.raises(fc.WorkerError, match="model file not found") as info:
        worker.load(str(tmp_path / "none.onnx"))
    assert info.value.path == str(tmp_path / "none.onnx")
    assert worker.ping()["model"] == str(media["model"]), "a failed load keeps the loaded model"


def test_load_takes_an_xseg_model_folder_as_the_cli_does(worker, media, tmp_path):
    """``load`` takes what ``--xseg-model`` takes: an XSeg model folder (written by the engine's checkpoint writer,
    as `facecomp xseg train` leaves it) masks XSeg-prd exactly as `facecomp render --xseg-model FOLDER`; a missing
    path is refused with the CLI's own line, and the loaded models stay."""
    import torch

    from engine.training.xseg_checkpoint import save_checkpoint
    from engine.xseg.model import XSegNet
    from tests.conftest import run_facecomp

    torch.manual_seed(0)
    folder = save_checkpoint(tmp_path / "xseg", XSegNet(64), 0, {"face_type": "whole_face"})
    missing = tmp_path / "none"
    cli = run_facecomp("render", "--model", media["model"], "--plate", media["plate"], "--frames", "1003", "--out",
                       tmp_path / "cli.%04d.exr", "--working-space", WORKING_SPACE, "--mask-mode", "XSeg-prd",
                       "--xseg-model", folder)
    assert "1 frames rendered" in cli.out, cli.err
    try:
        worker.load(str(media["model"]), xseg_model=str(folder))
        _render(worker, media, tmp_path, frames=[1003], model=None, overrides={"mask_mode": "XSeg-prd"})
        by_worker, by_cli = read_exr(tmp_path / "fs.1003.exr"), read_exr(tmp_path / "cli.1003.exr")
        np.testing.assert_array_equal(by_worker["facemask.A"], by_cli["facemask.A"])
        with pytest.raises(fc.WorkerError) as info:
            worker.load(str(media["model"]), xseg_model=str(missing))
        bad = run_facecomp("render", "--model", media["model"], "--plate", media["plate"], "--frames", "1003",
                           "--out", tmp_path / "bad.%04d.exr", "--mask-mode", "XSeg-prd", "--xseg-model", missing,
                           check=False)
        assert bad.code != 0 and str(info.value) in bad.err.strip().splitlines()[-1], (str(info.value), bad.err)
        assert str(info.value) == f"{missing}: no such XSeg model (an exported XSeg .onnx or an XSeg model folder)"
        assert info.value.path == str(missing) and worker.ping()["model"] == str(media["model"])
        _render(worker, media, tmp_path / "kept", frames=[1003], model=None, overrides={"mask_mode": "XSeg-prd"})
        np.testing.assert_array_equal(read_exr(tmp_path / "kept" / "fs.1003.exr")["facemask.A"], by_cli["facemask.A"])
    finally:
        worker.load(str(media["model"]))  # the module's worker goes on without an XSeg model


def _raw_worker():
    return subprocess.Popen(shlex.split(facecomp_exe()) + ["worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1)


def _send(proc, **msg):
    proc.stdin.write(json.dumps(msg) + "\n")
    proc.stdin.flush()


def _until(proc, rid, kind="result"):
    messages = []
    for line in proc.stdout:
        msg = json.loads(line)  # every stdout line is protocol JSON
        messages.append(msg)
        if msg.get("id") == rid and msg["type"] in (kind, "error"):
            return messages
    raise AssertionError(f"worker ended before answering {rid}: {messages}")


def test_busy_ping_and_cancel(media, tmp_path):
    proc = _raw_worker()
    try:
        _send(proc, id="load", op="load", model=str(media["model"]))
        _until(proc, "load")
        _send(proc, id="r", op="render", plate=str(media["plate"]), frames=FRAMES, out=str(tmp_path / "c.%04d.exr"),
              working_space=WORKING_SPACE)
        first = _until(proc, "r", kind="progress")
        assert first[-1]["type"] == "progress"
        _send(proc, id="p", op="ping")
        _send(proc, id="c", op="cancel", target="r")
        msgs = _until(proc, "r")
        pong = next(m for m in msgs if m["id"] == "p")
        assert pong["busy"] == "r", "a ping is answered during a render and says what is running"
        assert msgs[-1]["type"] == "error" and msgs[-1]["kind"] == "cancelled"
        assert len(list(tmp_path.glob("c.*.exr"))) < len(FRAMES)
        _send(proc, id="s", op="shutdown")
        assert _until(proc, "s")[-1]["shutdown"] is True
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_worker_stops_when_the_host_goes_away(media, tmp_path):
    proc = _raw_worker()
    _send(proc, id=1, op="render", model=str(media["model"]), plate=str(media["plate"]), frames=FRAMES * 4,
          out=str(tmp_path / "g.%04d.exr"), working_space=WORKING_SPACE)
    _until(proc, 1, kind="progress")
    proc.stdin.close()  # the host died: end of input
    assert proc.wait(20) == 0


def test_a_killed_worker_is_reported_with_its_exit_code(media, tmp_path):
    w = fc.WorkerClient(fc.facecomp_command(facecomp_exe()))
    w.start()

    def kill_on_first_frame(message):
        os.kill(w.pid, signal.SIGKILL)

    with pytest.raises(fc.WorkerDied, match=r"exited \(code -9\)"):
        _render(w, media, tmp_path, on_progress=kill_on_first_frame)
    with pytest.raises(fc.WorkerDied):
        w.ping()


def test_a_hung_worker_times_out_and_is_stopped(media, tmp_path):
    w = fc.WorkerClient([sys.executable, str(HERE / "fake_facecomp.py"), "hang"])
    w.start()
    t0 = time.monotonic()
    with pytest.raises(fc.WorkerTimeout, match="no answer to 'render' in 1.5 s"):
        w.render(frame_timeout=1.5, plate="p.%04d.exr", frames=[1], out="o.%04d.exr")
    assert 1.4 < time.monotonic() - t0 < 5
    assert not w.alive


def test_facecomp_command_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv(fc.ENV_EXE, f"{sys.executable} -m engine")
    assert fc.facecomp_command() == [sys.executable, "-m", "engine"]
    assert fc.facecomp_command(sys.executable) == [sys.executable], "the knob wins over the environment"
    monkeypatch.setenv(fc.ENV_EXE, str(tmp_path / "missing" / "facecomp"))
    with pytest.raises(fc.FacecompHostError, match="facecomp executable not found.*FACECOMP_EXE"):
        fc.facecomp_command()


def test_a_bad_model_keeps_the_loaded_one(worker, media, tmp_path):
    worker.load(str(media["model"]))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 64)
    with pytest.raises(fc.WorkerError, match="bad.onnx") as info:
        worker.load(str(bad))
    assert info.value.kind == "failed" and info.value.path == str(bad)
    assert worker.ping()["model"] == str(media["model"])
    reply = _render(worker, media, tmp_path, frames=[1002], model=None)
    assert reply["outputs"] == [str(tmp_path / "fs.1002.exr")]
