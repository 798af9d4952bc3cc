"""Merge speed: ms per 512 px frame of `facecomp merge` against DeepFaceLab's merger, run by hand:

    .venv/bin/python bench/merge.py [--frames 128] [--workers 2] [--model saehd_64_liae_ud]

Set-up as DFL's measurement (shared/research/dfl_peer.md §1.2): 512x512 PNG frames with one face each
(the first frames of dst_obama_speaking.mp4, 512x388, padded to 512x512), whole_face 256 px aligned faces,
SAEHD res 64 liae-ud ae64/e32/d32/dm16 (random weights: speed does not depend on them), merger defaults
(overlay, mask dst, no erode/blur/colour transfer), merged frames + masks written as PNG. DFL: 42 ms/frame
with 2 workers, 56 ms/frame with 1 (CPU family 25 EPYC, 2 cores). Target: <= 0.5x DFL's 2-worker figure.

Figures printed: wall ms/frame and process CPU ms/frame of the whole merge (model loading excluded, as DFL's
progress bar excludes its start-up), with ratios against DFL's figures and against a 1-worker run of ours
in this same process; plus ORT inference alone per face, to show what the merge adds around the model.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATA, Row, cpu_name  # noqa: E402
from engine.export.onnx import export_swap_model  # noqa: E402
from engine.faces.extract_faceset import extract_faces  # noqa: E402
from engine.media.frames import open_frames  # noqa: E402
from engine.media.image_io import write_image  # noqa: E402
from engine.models import build_model  # noqa: E402
from engine.swap.merge_frames import MergeJob, Merger  # noqa: E402
from engine.swap.onnx_model import FaceSwapModel  # noqa: E402

DFL_MS = {1: 56.0, 2: 42.0}  # DFL merger ms/frame by worker count, SAEHD res 64 liae-ud (dfl_peer.md §1.2)


def make_frames(folder: Path, count: int) -> None:
    """``count`` 512x512 frames (dst video padded) and their whole_face 256 px faceset in folder/aligned."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame in open_frames(DATA / "video" / "dst_obama_speaking.mp4"):
        if frame.number > count:
            break
        img = frame.image
        pad = 512 - img.shape[0]
        img = cv2.copyMakeBorder(img, pad // 2, pad - pad // 2, 0, 0, cv2.BORDER_REFLECT) if pad > 0 else img
        write_image(folder / f"{frame.number:05d}.png", img[:512, :512])
    extract_faces(folder, folder / "aligned", face_type="whole_face", image_size=256, max_faces=1)


def run_merge(model: Path, frames: Path, out: Path, workers: int) -> tuple[float, float, int]:
    """(wall ms/frame, CPU ms/frame, frames) of one full merge, model loading excluded."""
    shutil.rmtree(out, ignore_errors=True)
    job = MergeJob(model=model, frames=frames, out=out / "merged", aligned=frames / "aligned",
                   mask_out=out / "merged_mask", workers=workers, restart=True)
    merger = Merger(job)
    t, c = time.perf_counter(), time.process_time()
    report = merger.run()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return wall * 1000 / report.merged, cpu * 1000 / report.merged, report.merged


def inference_ms(model: Path, runs: int = 30) -> float:
    m = FaceSwapModel(model)
    x = np.random.default_rng(0).random((1, m.resolution, m.resolution, 3), dtype=np.float32)
    for _ in range(3):
        m.run(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        m.run(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def measure(frames_count: int, workers: int, model_name: str, keep: Path | None = None, runs: int = 30,
            log: bool = True) -> dict:
    """Inference alone, a 1-worker and a ``workers``-worker merge of the same frames (model loading excluded)."""
    work = keep or Path(tempfile.mkdtemp(prefix="facecomp-bench-merge-"))
    try:
        frames = work / "frames"
        if not (frames / "aligned").is_dir():
            make_frames(frames, frames_count)
        model = work / f"{model_name}.onnx"
        if not model.exists():
            export_swap_model(build_model(model_name), model, {"iteration": 0})
        load = os.getloadavg()
        if log:
            print(f"CPU: {cpu_name()}; load average before: {load[0]:.2f} (other work on the machine inflates wall "
                  "times)")
        infer = inference_ms(model, runs)
        one = run_merge(model, frames, work / "out1", 1)
        many = run_merge(model, frames, work / "outN", workers)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return {"infer": infer, "one": one, "many": many, "workers": workers}


def rows_from(m: dict, model_name: str) -> list[Row]:
    """The bench interface's rows: merge ms/frame against DFL's merger (target <= 0.5x its 2-worker figure)."""
    (one, _, _), (many, many_cpu, n), w = m["one"], m["many"], m["workers"]
    dfl = "DFL merger (dfl_peer.md §1.2)"
    where = f"{model_name}, {n} frames 512x512"
    bound = many_cpu / min(os.cpu_count() or 1, w)
    return [Row("merge", f"merge ms/frame, {w} workers ({where})", many, "ms", DFL_MS.get(w), dfl,
                0.5 if w == 2 else None),
            Row("merge", "merge ms/frame, 1 worker", one, "ms", DFL_MS[1], dfl),
            Row("merge", f"merge ms/frame, {w} workers vs 1 worker", many, "ms", one, "1 worker, same run"),
            Row("merge", f"CPU-time bound with {w} workers", bound, "ms", DFL_MS.get(w), dfl,
                note="what the wall time approaches on a quiet machine"),
            Row("merge", "ORT inference alone, ms/face (batch 1)", m["infer"], "ms", many, "merge ms/frame")]


def run(smoke: bool) -> list[Row]:
    """bench/run_all.py entry: smoke = 3 frames and 3 inference runs; else 128 frames, 2 workers."""
    model = "saehd_64_liae_ud"
    m = measure(3, 2, model, runs=3, log=False) if smoke else measure(128, 2, model, log=False)
    return rows_from(m, model)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="saehd_64_liae_ud", help="registered model config to build and export")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args()
    m = measure(args.frames, args.workers, args.model, args.keep)
    infer, one, many = m["infer"], m["one"], m["many"]
    print(f"model {args.model}, {many[2]} frames 512x512, merged + mask PNG, DFL default settings")
    print(f"ORT inference alone: {infer:.1f} ms/face (batch 1)")
    for label, (wall, cpu, _), workers in (("1 worker", one, 1), (f"{args.workers} workers", many, args.workers)):
        dfl = DFL_MS.get(workers)
        vs = f"  = {wall / dfl:.2f}x DFL's {dfl:.0f} ms/frame ({workers} worker{'s' if workers > 1 else ''})" \
            if dfl else ""
        print(f"{label:>10}: {wall:6.1f} ms/frame wall, {cpu:6.1f} ms/frame CPU{vs}")
    print(f"{args.workers} workers vs 1 worker (same process): {many[0] / one[0]:.2f}x wall")
    target = DFL_MS[2] * 0.5
    verdict = "meets" if many[0] <= target else "misses"
    print(f"target <= 0.5x DFL (<= {target:.0f} ms/frame): {verdict} ({many[0] / DFL_MS[2]:.2f}x)")
    cores = os.cpu_count() or 1
    bound = many[1] / min(cores, args.workers)
    print(f"CPU-time bound with {args.workers} workers on {cores} cores: {bound:.1f} ms/frame "
          f"({bound / DFL_MS[2]:.2f}x DFL) - what the wall time approaches on a quiet machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
