"""engine.training.thread_tuner: the CPU trainer keeps the faster compute-thread count (all cores or one)."""

from __future__ import annotations

import pytest
import torch

from engine.training.thread_tuner import ThreadTuner, tuner_wanted


@pytest.fixture
def two_threads():  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_tuner_switches_to_the_faster_count_and_back(two_threads: None) -> None:
    """Probes the other count (half the cores: 1 of 2) every ``every`` steps, keeps it when 10 % faster."""
    t = ThreadTuner(every=4, probe=3)
    for _ in range(4):
        t.after_step(100.0)  # 2 threads: 100 ms; the 4th step starts a probe at 1 thread
    assert torch.get_num_threads() == 1 and t.current == 2
    for ms in (900.0, 50.0, 55.0, 60.0):  # the first probe step is not counted
        t.after_step(ms)
    assert t.current == 1 and torch.get_num_threads() == 1  # 55 ms beat 100 ms: one thread kept
    for _ in range(4):
        t.after_step(60.0)  # the next probe tries 2 threads again
    assert torch.get_num_threads() == 2
    for ms in (70.0, 58.0, 59.0, 58.0):  # not 10 % faster: back to one thread
        t.after_step(ms)
    assert t.current == 1 and torch.get_num_threads() == 1
    for _ in range(4):
        t.after_step(60.0)
    assert torch.get_num_threads() == 1  # a lost probe doubles the wait: no probe after 4 steps
    for _ in range(4):
        t.after_step(60.0)
    assert torch.get_num_threads() == 2  # after 8
    for ms in (40.0, 30.0, 30.0, 30.0):  # the load went away: all cores again
        t.after_step(ms)
    assert t.current == 2 and torch.get_num_threads() == 2
    torch.set_num_threads(1)
    t.close()
    assert torch.get_num_threads() == 2  # the process is left at its starting count


def test_tuner_wanted(two_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACECOMP_THREAD_TUNE", raising=False)
    assert tuner_wanted(torch.device("cpu"))
    monkeypatch.setenv("FACECOMP_THREAD_TUNE", "0")
    assert not tuner_wanted(torch.device("cpu"))
    monkeypatch.delenv("FACECOMP_THREAD_TUNE")
    torch.set_num_threads(1)
    assert not tuner_wanted(torch.device("cpu"))  # one thread already (e.g. --threads 1)


def test_tuner_probes_half_the_cores() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        t = ThreadTuner(every=2, probe=2)
        t.after_step(10.0)
        t.after_step(10.0)
        assert torch.get_num_threads() == 4 and t.wanted() == 4
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("tune", [True, False])
def test_trainer_tunes_unless_the_count_was_given(two_threads: None, src_faces, dst_faces, tmp_path, tune) -> None:
    """`facecomp train --threads N` (tune_threads=False) keeps N; the default lets the tuner choose."""
    from engine.models import normalize_options
    from engine.training.trainer import Trainer, TrainSettings

    opts = normalize_options("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 32, "e_dims": 16,
                                       "d_dims": 16, "d_mask_dims": 16, "batch_size": 2, "face_type": "wf"})
    t = Trainer(TrainSettings(model_dir=tmp_path, kind="saehd", options=opts, src=src_faces, dst=dst_faces,
                              device="cpu", precision="fp32", preview_every=0, quiet=True, tune_threads=tune))
    t.setup()
    t.feed.close()
    assert (t.thread_tuner is not None) is tune
