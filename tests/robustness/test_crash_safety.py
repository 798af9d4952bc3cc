"""Crash safety: SIGKILL at random moments and inside checkpoint writes, a full disk during a save, and merge /
render runs killed mid-way. The runs are forked from a pre-imported process (tests/robustness/zygote.py): real
`facecomp` processes without a Python + torch start-up per kill.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.robustness.corpus import leftovers, tree_hash

KILLS = 12  # half timed into a checkpoint write, half at random moments
TINY = ["--resolution", "64", "--archi", "df-ud", "--ae-dims", "32", "--e-dims", "16", "--d-dims", "16",
        "--d-mask-dims", "16", "--batch-size", "2", "--quiet", "--preview-every", "1000"]
SEED = int(os.environ.get("FACECOMP_KILL_SEED", "8"))


class Zygote:
    """Client of tests/robustness/zygote.py."""

    def __init__(self, log: Path):
        env = {**os.environ, "ZYGOTE_LOG": str(log), "FACECOMP_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("zygote.py"))], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert json.loads(self._read())["ready"]

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "zygote died"
        return line

    def _ask(self, req: dict) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._read())

    def start(self, *argv: object, fsize: int | None = None) -> int:
        return int(self._ask({"run": [str(a) for a in argv], "fsize": fsize})["pid"])

    def wait(self, pid: int) -> int:
        return int(self._ask({"wait": pid})["code"])

    def run(self, *argv: object, fsize: int | None = None) -> int:
        return self.wait(self.start(*argv, fsize=fsize))

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("zygote") / "runs.log"
    z = Zygote(log)
    z.log = log  # type: ignore[attr-defined]
    yield z
    z.close()


def _log_tail(z: Zygote) -> str:
    log: Path = z.log  # type: ignore[attr-defined]
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(cond, pid: int, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if not _alive(pid):
            return False
        time.sleep(0.002)
    return False


def _loss_rows(model: Path) -> int:
    p = model / "loss.jsonl"
    return len(p.read_bytes().splitlines()) if p.exists() else 0


def _check_checkpoint(model: Path, last: int) -> int:
    """The folder loads as a complete checkpoint whose iteration did not go back; returns the iteration."""
    from engine.training.checkpoint import load_model, recover
    from engine.training.run_plan import read_existing

    meta = read_existing(model)  # what the trainer does first: finish or discard an interrupted save
    loaded_model, loaded = load_model(model)
    assert loaded["checkpoint_id"] == meta["checkpoint_id"]
    assert meta["iteration"] >= last, f"iteration went back from {last} to {meta['iteration']}"
    recover(model)
    assert not (model / ".pending").exists()
    del loaded_model
    return int(meta["iteration"])


def test_training_killed_at_random_moments_and_inside_saves_resumes(zygote, src_faces, dst_faces, tmp_path):
    model = tmp_path / "model"
    code = zygote.run("train", "--model", model, "--kind", "saehd", "--src", src_faces, "--dst", dst_faces,
                      *TINY, "--iterations", "2")
    assert code == 0, _log_tail(zygote)
    last = _check_checkpoint(model, 2)
    rng = random.Random(SEED)
    in_save = 0
    for k in range(KILLS):
        rows = _loss_rows(model)
        pid = zygote.start("train", "--model", model, "--resume", "--save-every-iter", "1", "--iterations", "1000")
        assert _wait_for(lambda r=rows: _loss_rows(model) > r, pid), f"training did not start:\n{_log_tail(zygote)}"
        if k % 2 == 0:  # inside a checkpoint write: the staging folder exists until the save is complete
            if _wait_for(lambda: (model / ".pending").exists(), pid, 30):
                time.sleep(rng.uniform(0.0, 0.01))
                in_save += (model / ".pending").exists()
        else:
            time.sleep(rng.uniform(0.0, 0.6))
        os.kill(pid, signal.SIGKILL)
        assert zygote.wait(pid) == -signal.SIGKILL
        last = _check_checkpoint(model, last)
    assert in_save >= KILLS // 4, f"only {in_save} kills landed inside a save"
    assert zygote.run("train", "--model", model, "--resume", "--iterations", "2") == 0, _log_tail(zygote)
    assert _check_checkpoint(model, last) == last + 2


def test_full_disk_during_a_save_keeps_the_previous_checkpoint(zygote, src_faces, dst_faces, tmp_path):
    model = tmp_path / "model"
    assert zygote.run("train", "--model", model, "--kind", "saehd", "--src", src_faces, "--dst", dst_faces, *TINY,
                      "--iterations", "1") == 0, _log_tail(zygote)
    before = tree_hash(model / "model.json", model / "model.safetensors")
    weights = (model / "model.safetensors").stat().st_size
    # every file may grow to half the weights: the next weights file cannot be written, as on a full disk
    code = zygote.run("train", "--model", model, "--resume", "--iterations", "3", "--save-every-iter", "1",
                      fsize=weights // 2)
    assert code not in (0, -signal.SIGKILL, -signal.SIGSEGV), f"exit {code}:\n{_log_tail(zygote)}"
    last_line = [line for line in _log_tail(zygote).splitlines() if line.strip()][-1]
    # one clean line that says what failed and where (not an "internal error")
    assert last_line.startswith("facecomp train: error:") and str(model) in last_line, last_line
    assert tree_hash(model / "model.json", model / "model.safetensors") == before
    assert _check_checkpoint(model, 1) == 1
    assert not leftovers(model) or all(".pending" in str(p) for p in leftovers(model))


def _first_frames(src: Path, dst: Path, count: int) -> Path:
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.png"))[:count]:
        os.symlink(f, dst / f.name)
    return dst


def _readable(files: list[Path]) -> list[str]:
    from engine.media.image_io import read_image

    bad = []
    for f in files:
        try:
            read_image(f)
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            bad.append(f"{f.name}: {exc}")
    return bad


def _kill_after(zygote: Zygote, folder: Path, pattern: str, count: int, *argv: object) -> None:
    pid = zygote.start(*argv)
    assert _wait_for(lambda: len(list(folder.glob(pattern))) >= count, pid, 120), _log_tail(zygote)
    os.kill(pid, signal.SIGKILL)
    zygote.wait(pid)


def test_merge_killed_midway_resumes_and_completes(zygote, dst_frames, dst_faces, tmp_path):
    from tests.quality.dfm_models import dfm_model

    frames = _first_frames(dst_frames, tmp_path / "frames", 8)
    model = dfm_model(tmp_path / "identity.onnx", 64)
    ref, out = tmp_path / "ref", tmp_path / "merged"
    base = ["merge", "--model", model, "--frames", frames, "--aligned", dst_faces]
    assert zygote.run(*base, "--out", ref) == 0, _log_tail(zygote)
    _kill_after(zygote, out, "*.png", 3, *base, "--out", out)
    done = {p.name for p in out.glob("*.png")}
    assert 3 <= len(done) < 8
    assert zygote.run(*base, "--out", out) == 0, _log_tail(zygote)
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == sorted(p.name for p in ref.glob("*.png"))
    assert not _readable(files)
    assert tree_hash(out) == {k.replace(str(ref), str(out)): v for k, v in tree_hash(ref).items()}
    assert not [p for p in leftovers(out) if p.suffix.lower() in (".png", ".exr", ".jpg")]


def test_render_killed_midway_resumes_and_completes(zygote, dst_frames, dst_faces, tmp_path):
    from tests.quality.dfm_models import dfm_model

    frames = _first_frames(dst_frames, tmp_path / "frames", 8)
    model = dfm_model(tmp_path / "identity.onnx", 64)
    out = tmp_path / "passes"
    out.mkdir()
    track = tmp_path / "track.json"
    assert zygote.run("track", frames, "--aligned", dst_faces, "--out", track) == 0, _log_tail(zygote)
    argv = ["render", "--model", model, "--plate", frames, "--track", track, "--out", out / "swap.%04d.exr"]
    _kill_after(zygote, out, "swap.*.exr", 3, *argv)
    assert _readable(sorted(out.glob("swap.*.exr"))) == []  # what exists under a final name is complete
    assert zygote.run(*argv) == 0, _log_tail(zygote)
    files = sorted(out.glob("swap.*.exr"))
    assert [f.name for f in files] == [f"swap.{n:04d}.exr" for n in range(1, 9)]
    assert _readable(files) == []
