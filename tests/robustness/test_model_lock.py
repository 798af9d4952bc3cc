"""Concurrent use of a model folder (issue 19): one writer at a time, held with a lock the OS drops when its
holder dies (SIGKILL included); the second writer gets one line naming the folder and the holder's pid;
readers retry a checkpoint caught in the middle of a save. Each test failed before issue 19."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import DATA, REPO, run_facecomp
from tests.robustness.conftest import assert_fails_cleanly, cli

HOLD = ("import sys, time\n"
        "from engine.training.folder_lock import writer_lock\n"
        "with writer_lock(sys.argv[1], 'train'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(600)\n")


@pytest.fixture()
def held(tmp_path: Path):
    """A model folder whose writer lock another real process holds; yields (folder, process)."""
    folder = tmp_path / "model"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield folder, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_second_writer_gets_one_line_naming_the_folder_and_the_holder(held, src_faces, tmp_path):
    folder, proc = held
    res = run_facecomp("train", "--model", folder, "--kind", "quick96", "--src", src_faces, "--dst", src_faces,
                       check=False, timeout=300)
    assert_fails_cleanly(res, str(folder))
    assert f"pid {proc.pid}" in res.err
    dfl_model = DATA / "dfl_samples" / "models" / "saehd_df_ud"
    for args in (["xseg", "train", "--model", folder, "--facesets", src_faces],
                 ["import-dfl", "model", dfl_model, folder, "--force"]):
        res = cli(*args)
        assert_fails_cleanly(res, str(folder))
        assert "in use" in res.err and f"pid {proc.pid}" in res.err


def test_a_killed_holder_leaves_no_stale_lock(held):
    from engine.training.folder_lock import writer_lock

    folder, proc = held
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with writer_lock(folder, "train"):
        assert (folder / ".facecomp.lock").read_text().startswith(f"pid {os.getpid()}")


def test_a_reader_retries_a_checkpoint_caught_mid_save(tiny_model, tmp_path):
    from engine.training import checkpoint

    old, new = tmp_path / "model", tmp_path / "newer"
    shutil.copytree(tiny_model[0], old)
    shutil.copytree(tiny_model[0], new)
    model, meta = checkpoint.load_model(new)
    newer = checkpoint.save_checkpoint(new, model, meta["iteration"] + 1)
    # a trainer's save half rolled forward: the weights are the new save's, model.json still the old one
    (old / ".pending").mkdir()
    os.replace(new / "model.safetensors", old / "model.safetensors")
    os.replace(new / "model.json", old / ".pending" / "model.json")

    def finish() -> None:
        os.replace(old / ".pending" / "model.json", old / "model.json")
        shutil.rmtree(old / ".pending")

    timer = threading.Timer(0.7, finish)
    timer.start()
    try:
        _, loaded = checkpoint.load_model(old)
    finally:
        timer.join()
    assert loaded["checkpoint_id"] == newer["checkpoint_id"]
