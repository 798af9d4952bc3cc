"""Training schedules end to end: three phases on real faces (option changes and resets at the given iterations),
a SIGKILL mid-phase resumes in the same phase, --status, TensorBoard event files read back, preview history."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from engine.training.checkpoint import read_model_json
from tests.conftest import REPO, assert_clean_error, run_facecomp
from tests.training.conftest import FAST, TINY, loss_rows, run_inprocess

SCHEDULE = """
name = "three"

[[phase]]
name = "warp"
until = 8
random_warp = true
reset = "inter"
reset_every = 4
reset_at_start = false

[[phase]]
name = "warp off"
until = 12
random_warp = false
lr_dropout = "y"
reset = "inter"

[[phase]]
name = "gan"
until = 30
gan_power = 0.1
gan_dims = 8
"""


def _meta(model: Path) -> dict:
    path = model / "model.json"
    return json.loads(path.read_text()) if path.is_file() else {}


@pytest.fixture(scope="module")
def scheduled(src_faces: Path, dst_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train the three-phase schedule, SIGKILL it in phase 3 after a mid-phase checkpoint, --status, resume."""
    root = tmp_path_factory.mktemp("scheduled")
    model, schedule = root / "model", root / "three.toml"
    schedule.write_text(SCHEDULE)
    cmd = [sys.executable, "-m", "engine", "train", "--model", str(model), "--kind", "saehd", "--src", str(src_faces),
           "--dst", str(dst_faces), "--archi", "liae-ud", *TINY, "--schedule", str(schedule), "--save-every-iter", "4",
           "--write-preview-history", *FAST]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _meta(model).get("iteration", 0) < 16 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_err = proc.stderr.read().decode()
    proc.stderr.close()
    killed = read_model_json(model)  # the newest complete checkpoint (a save cut short is not yet rolled forward)
    status = run_facecomp("train", "--model", model, "--status")
    resumed = run_facecomp("train", "--model", model, "--resume", *FAST)
    return {"model": model, "killed": killed, "first_err": first_err, "status": status.out,
            "resumed_err": resumed.err}


def test_phases_change_options_and_reset_at_the_given_iterations(scheduled: dict):
    killed = scheduled["killed"]
    assert 16 <= killed["iteration"] < 30 and killed["iteration"] % 4 == 0, killed["iteration"]
    log = killed["schedule"]["log"]
    assert [e["iteration"] for e in log] == [0, 4, 8, 12], log
    assert [e["phase"] for e in log] == [1, 1, 2, 3]
    assert log[0]["options"] == {"random_warp": True} and "reset" not in log[0]
    assert log[1] == {"iteration": 4, "phase": 1, "reset": ["inter"]}  # reset_every within phase 1
    assert log[2]["options"] == {"lr_dropout": "y", "random_warp": False} and log[2]["reset"] == ["inter"]
    assert log[3]["options"] == {"gan_dims": 8, "gan_power": 0.1}
    opts = killed["options"]  # changes carry over: phase 3 keeps phase 2's random_warp and lr_dropout
    assert opts["gan_power"] == 0.1 and opts["gan_dims"] == 8 and opts["random_warp"] is False
    assert opts["lr_dropout"] == "y"
    err = scheduled["first_err"]
    assert "phase 2 'warp off'" in err and "phase 3 'gan'" in err and "reset inter" in err


def test_reset_reinitialises_the_inter(scheduled: dict):
    # inter reset at iteration 8, then frozen (LIAE freezes inter_AB with random warp off): fresh zero biases
    weights = load_file(str(scheduled["model"] / "model.safetensors"))
    inter_biases = [v for k, v in weights.items() if k.startswith("inter_AB.") and k.endswith("bias")]
    assert inter_biases and all(float(b.abs().max()) == 0.0 for b in inter_biases)
    other = [v for k, v in weights.items() if k.startswith("encoder.") and k.endswith("bias")]
    assert any(float(b.abs().max()) > 0.0 for b in other)
    assert (scheduled["model"] / "discriminators.safetensors").is_file()  # the GAN of phase 3


def test_sigkill_mid_phase_resumes_in_the_same_phase(scheduled: dict):
    model, killed = scheduled["model"], scheduled["killed"]
    final = _meta(model)
    assert final["iteration"] == 30
    assert final["schedule"]["log"] == killed["schedule"]["log"]  # nothing applied twice
    assert final["options"] == killed["options"]
    err = scheduled["resumed_err"]
    assert f"model at iteration {killed['iteration']}" in err
    assert "schedule three at iteration" not in err  # no phase start re-applied
    assert [r["iteration"] for r in loss_rows(model)] == list(range(1, 31))
    assert [r for r in loss_rows(model) if r["iteration"] > 12 and "loss_gan_d" not in r] == []


def test_status_shows_phase_next_change_and_eta(scheduled: dict):
    lines = scheduled["status"].splitlines()
    it = scheduled["killed"]["iteration"]
    assert lines[0].startswith(f"saehd model at iteration {it};") and "ms/iter" in lines[0]
    assert "schedule three: phase 3/3 'gan' (gan_dims = 8, gan_power = 0.1), until iteration 30" in lines[1]
    assert lines[2].startswith(f"next change at iteration 30 (in {30 - it}, ETA ") and "schedule ends" in lines[2]
    status = run_facecomp("train", "--model", scheduled["model"], "--status").out
    assert "finished at iteration 30" in status


def test_tensorboard_holds_scalars_and_previews(scheduled: dict):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(scheduled["model"] / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in ("loss/src", "loss/dst", "loss/gan_d", "train/lr", "speed/ms_per_iter", "speed/samples_per_s"):
        assert tag in tags["scalars"], (tag, tags["scalars"])
    steps = [e.step for e in acc.Scalars("loss/src")]
    assert steps == sorted(set(steps)) and steps[-1] == 30  # the killed run's events past its checkpoint purged
    loss = {r["iteration"]: r for r in loss_rows(scheduled["model"])}
    for e in acc.Scalars("loss/dst"):
        window = [loss[i]["loss_dst"] for i in range(max(1, e.step - 9), e.step + 1)]
        assert min(window) - 1e-4 <= e.value <= max(window) + 1e-4
    assert all(e.step > 12 for e in acc.Scalars("loss/gan_d"))
    lrs = {e.step: e.value for e in acc.Scalars("train/lr")}
    assert lrs[10] > 0 and all(v > 0 for v in lrs.values())
    assert "preview" in tags["images"]
    images = acc.Images("preview")
    assert {10, 20, 30} <= {i.step for i in images}
    import cv2
    import numpy as np

    png = cv2.imdecode(np.frombuffer(images[-1].encoded_image_string, np.uint8), cv2.IMREAD_COLOR)
    preview = cv2.imread(str(scheduled["model"] / "preview.png"))
    assert png.shape == preview.shape and images[-1].width == preview.shape[1]


def test_timelapse_from_the_preview_history(scheduled: dict, tmp_path: Path):
    import av

    history = sorted(p.name for p in (scheduled["model"] / "history").glob("*.png"))
    assert history[:3] == ["0000010.png", "0000020.png", "0000030.png"]
    run_facecomp("train", "--model", scheduled["model"], "--timelapse", tmp_path / "t.mp4")
    with av.open(str(tmp_path / "t.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(history)
    run_facecomp("train", "--model", scheduled["model"], "--timelapse", tmp_path / "t.png")
    import cv2

    sheet = cv2.imread(str(tmp_path / "t.png"))
    assert sheet is not None and sheet.shape[1] == 480 * min(4, len(history))


def test_bad_schedules_are_clean_errors(src_faces: Path, tmp_path: Path):
    cases = {
        "[[phase]]\nuntil = 10\ngan_powr = 0.1\n": "gan_powr",
        "[[phase]]\nuntil = 10\nresolution = 128\n": "resolution is fixed",
        "[[phase]]\nuntil = 10\ngan_power = 9.0\n": "gan_power",
        "[[phase]]\nuntil = 10\n[[phase]]\nuntil = 5\n": "until = 5",
        "[[phase]]\nrandom_warp = false\n[[phase]]\nuntil = 5\n": "until missing",
        "[[phase]]\nuntil = 10\nreset_every = 5\n": "reset_every needs reset",
        "phases = 1\n": "unknown key 'phases'",
        "[[phase]\n": "not a valid TOML",
    }
    for n, (text, mention) in enumerate(cases.items()):
        path = tmp_path / f"bad{n}.toml"
        path.write_text(text)
        res = run_inprocess("train", "--model", tmp_path / "m", "--kind", "saehd", "--src", src_faces, *TINY,
                            "--schedule", path, *FAST)
        assert_clean_error(res, mention)
        assert str(path) in res.err
    res = run_inprocess("train", "--model", tmp_path / "m", "--kind", "saehd", "--src", src_faces, "--schedule",
                        "no-such-preset", *FAST)
    assert_clean_error(res, "presets: dfl-rtt")
    assert not (tmp_path / "m").exists()  # nothing written


def test_presets_fit_saehd_and_amp():
    from engine.training.schedule import PRESETS, load_schedule

    rtt = load_schedule("dfl-rtt", "saehd")
    assert [p.until for p in rtt.phases] == [500000, 800000, None]
    assert rtt.phases[0].reset == ["inter"] and rtt.phases[0].reset_every == 100000
    assert rtt.phases[1].options == {"random_warp": False, "lr_dropout": "y"}
    assert rtt.phases[2].options == {"gan_power": 0.1, "gan_dims": 32}
    rtt.start = 1000
    assert rtt.next_action(1000).iteration == 101000 and rtt.next_action(1000).reset == ["inter"]
    assert rtt.next_action(400000).iteration == 401000 and rtt.next_action(400000).options == {}
    assert rtt.next_action(450000).iteration == 501000 and rtt.next_action(450000).phase == 1
    assert rtt.phase_index(500999) == 0 and rtt.phase_index(501000) == 1 and rtt.phase_index(10**9) == 2
    assert rtt.next_action(801000) is None and rtt.end() is None
    for name in PRESETS:
        assert load_schedule(name, "amp").phases


def test_two_ranks_follow_the_schedule_together(src_faces: Path, dst_faces: Path, tmp_path: Path):
    import os

    model = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "engine",
           "train", "--model", str(model), "--kind", "saehd", "--src", str(src_faces), "--dst", str(dst_faces),
           "--archi", "liae-ud", *TINY, "--schedule", "quick-test", "--iterations", "12", *FAST]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr.count("2 ranks hold identical weights") == 2  # one check per round (0-10, 10-12)
    meta = read_model_json(model)
    assert meta["iteration"] == 12 and [e["iteration"] for e in meta["schedule"]["log"]] == [0, 10]
    events = list((model / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 2 and len({p.name.rsplit(".", 2)[-2] for p in events}) == 1  # rank 0's process only
