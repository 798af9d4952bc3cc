"""Pass-writing cost: ms per frame to write the EXR passes, today's layout against the compositor's set, run by hand:

    .venv/bin/python bench/passes.py [--frames 6] [--repeat 5]

Frames: the first frames of multiface_pedestrians_1080p.mp4 (1920x1080, several faces) and
hard_hamilton_cuts_profile_multiface.mp4 (640x360), faces detected per frame and swapped once with an exported
SAEHD res 64 (random weights; only the writing is timed). For each frame result, in the same process and
alternating so that machine load hits both alike:

* baseline: the layout before issue 16: the merged frame ``R,G,B,A``, ``face.R/G/B`` and the mask, whole plate,
  half float (``--passes rgba,face,mask``);
* new default: ``face,facemask,mattes,crypto,stmap`` (per-face mattes, Cryptomatte with 32-bit ids, 32-bit
  STMap) over the faces' data window: image passes half in part 1, ids and STMap 32-bit in part 2 (what
  facecomp writes);
* new default, one part: the same passes in one all-32-bit part (--exr-layout single, for Fusion's fuse);
* everything: the new default plus ``rgba`` (whole plate).

Target: the new default costs at most 1.15x the baseline per frame (issue 16).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATA, Row, cpu_name, print_table  # noqa: E402
from engine.export.onnx import export_swap_model  # noqa: E402
from engine.media.frames import open_frames  # noqa: E402
from engine.models import build_model  # noqa: E402
from engine.swap.passes import DEFAULT_PASSES, write_passes  # noqa: E402
from engine.swap.pipeline import FrameResult  # noqa: E402
from engine.swap.render import Renderer, load_settings  # noqa: E402

VIDEOS = ("multiface_pedestrians_1080p.mp4", "hard_hamilton_cuts_profile_multiface.mp4")
LAYOUTS = {"baseline": ("rgba", "face", "facemask"), "new default": DEFAULT_PASSES,
           "new default, one part": DEFAULT_PASSES, "everything": (*DEFAULT_PASSES, "rgba")}


def frame_results(model: Path, count: int) -> list[tuple[str, FrameResult]]:
    """Swapped frames (the first ``count`` with a face of each video)."""
    renderer = Renderer(model)
    settings = load_settings(None)
    out = []
    for video in VIDEOS:
        got = 0
        for frame in open_frames(DATA / "video" / video):
            result = renderer.swap(frame.image, frame.number, settings, None, None)
            if result.faces:
                out.append((f"{video}:{frame.number}", result))
                got += 1
            if got >= count:
                break
    return out


def time_writes(results: list[tuple[str, FrameResult]], folder: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Per layout: median ms per frame (mean over frames) and mean file size in KiB."""
    times: dict[str, list[float]] = {k: [] for k in LAYOUTS}
    sizes: dict[str, list[int]] = {k: [] for k in LAYOUTS}
    for i, (_, result) in enumerate(results):
        per: dict[str, list[float]] = {k: [] for k in LAYOUTS}
        for _ in range(repeat):
            for name, passes in LAYOUTS.items():  # alternating: load hits every layout alike
                path = folder / f"{name.replace(' ', '_')}.{i}.exr"
                t = time.perf_counter()
                write_passes(path, result, passes, layout="single" if name.endswith("one part") else "parts")
                per[name].append(time.perf_counter() - t)
        for name in LAYOUTS:
            times[name].append(statistics.median(per[name]) * 1000)
            sizes[name].append((folder / f"{name.replace(' ', '_')}.{i}.exr").stat().st_size)
    return {k: {"ms": statistics.fmean(times[k]), "kib": statistics.fmean(sizes[k]) / 1024} for k in LAYOUTS}


def measure(count: int, repeat: int) -> tuple[dict[str, dict[str, float]], int, float]:
    work = Path(tempfile.mkdtemp(prefix="facecomp-bench-passes-"))
    try:
        model = work / "saehd.onnx"
        export_swap_model(build_model("saehd_64_liae_ud"), model, {"iteration": 0})
        results = frame_results(model, count)
        faces = statistics.fmean(r.faces for _, r in results)
        return time_writes(results, work, repeat), len(results), faces
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rows_from(m: dict[str, dict[str, float]], frames: int, faces: float) -> list[Row]:
    base = m["baseline"]["ms"]
    where = f"{frames} frames, {faces:.1f} faces/frame"
    return [Row("passes", f"EXR passes ms/frame, new default ({where})", m["new default"]["ms"], "ms", base,
                "baseline layout (rgba,face,mask), same run", 1.15,
                note=f"{m['new default']['kib']:.0f} KiB vs {m['baseline']['kib']:.0f} KiB a frame"),
            Row("passes", "EXR passes ms/frame, new default in one 32-bit part", m["new default, one part"]["ms"], "ms",
                base, "baseline layout, same run", note=f"{m['new default, one part']['kib']:.0f} KiB a frame"),
            Row("passes", "EXR passes ms/frame, everything (+rgba)", m["everything"]["ms"], "ms", base,
                "baseline layout, same run", note=f"{m['everything']['kib']:.0f} KiB a frame")]


def run(smoke: bool) -> list[Row]:
    """bench/run_all.py entry: smoke = 1 frame per video, 1 repeat; else 6 frames per video, 5 repeats."""
    m, n, faces = measure(1, 1) if smoke else measure(6, 5)
    return rows_from(m, n, faces)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=6, help="frames with a face per video")
    ap.add_argument("--repeat", type=int, default=5, help="writes per layout and frame (median)")
    args = ap.parse_args()
    print(f"CPU: {cpu_name()}; load average before: {os.getloadavg()[0]:.2f} (a loaded machine inflates every "
          "figure; the ratios are measured alternating in one process)")
    m, n, faces = measure(args.frames, args.repeat)
    for name, v in m.items():
        print(f"{name:>18}: {v['ms']:7.1f} ms/frame, {v['kib']:7.0f} KiB/frame ({', '.join(LAYOUTS[name])})")
    print_table(rows_from(m, n, faces), "EXR pass writing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
