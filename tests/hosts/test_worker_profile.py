"""`facecomp worker` with FACECOMP_WORKER_PROFILE=1 (real process, real frames): each frame's stage times come in
its progress message and in the worker's log; without the variable the messages carry none."""

from __future__ import annotations

import os

from hostkit import FRAMES, WORKING_SPACE, facecomp_exe

from engine.swap.track_build import build_track
from engine.worker.server import PROFILE_ENV
from host_kit import client as fc


def _render(media, tmp_path, env):
    track = tmp_path / "track.json"
    if not track.exists():
        build_track(str(media["plate"]), working_space=WORKING_SPACE).save(track)
    worker = fc.WorkerClient(fc.facecomp_command(facecomp_exe()), env=env)
    worker.start()
    seen = []
    try:
        worker.render(plate=str(media["plate"]), frames=FRAMES[:2], out=str(tmp_path / "o" / "fs.%04d.exr"),
                      model=str(media["model"]), working_space=WORKING_SPACE, track=str(track),
                      passes=["face", "facemask"], on_progress=seen.append)
        log = worker.stderr_tail(40)
    finally:
        worker.close()
    return seen, log


def test_profiled_worker_reports_stage_times(media, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != PROFILE_ENV}
    seen, log = _render(media, tmp_path, {**env, PROFILE_ENV: "1"})
    assert [m["frame"] for m in seen] == FRAMES[:2]
    for message in seen:
        times = message["timings_ms"]
        assert {"settings", "plate", "swap", "passes"} <= set(times), times
        assert all(isinstance(v, float) and v >= 0 for v in times.values()) and times["swap"] > 0
    assert f"profile: frame {FRAMES[1]}: settings" in log and "profile: request" in log
    plain, log = _render(media, tmp_path, {**env, PROFILE_ENV: "0"})
    assert [m["frame"] for m in plain] == FRAMES[:2]
    assert not any("timings_ms" in m for m in plain) and "profile:" not in log
