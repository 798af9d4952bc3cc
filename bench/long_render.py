"""Long-run check: many frames through one `facecomp worker` (the process `facecomp render` and the hosts use)
with flat memory. Run by hand:

    .venv/bin/python bench/long_render.py [--frames 10000] [--model face.onnx] [--chunk 100] [--track]

The plate is the first 100 frames of shared/data/video/dst_obama_speaking.mp4 (512x388) written once as PNG,
then numbered 1..N by symbolic links (every frame number is distinct, as in a long shot, without N files of
pixels). One worker (``python -m engine worker``) gets ``render`` requests of ``--chunk`` frames (faces detected
in every frame, or from a track with ``--track``); each chunk's EXR outputs are deleted after it so the disk
stays small. The worker's resident memory (VmRSS from /proc) is sampled after every chunk; the figure is the
growth from the first chunk (warm: model, detector and caches loaded) to the last. Without ``--model`` a SAEHD
res 64 liae-ud ae64/e32/d32/dm16 with random weights is exported (speed and memory do not depend on weights).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import DATA, Row, print_table  # noqa: E402

PLATE_FRAMES = 100
FLAT = 1.10  # end RSS / warm RSS at or below this counts as flat memory


def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def make_plate(folder: Path, frames: int) -> Path:
    """``folder/plate.%05d.png`` with ``frames`` numbers: 100 real frames, the rest symbolic links to them."""
    from engine.media.frames import open_frames
    from engine.media.image_io import write_image

    real = folder / "real"
    real.mkdir(parents=True)
    count = min(frames, PLATE_FRAMES)
    for frame in open_frames(DATA / "video" / "dst_obama_speaking.mp4"):
        if frame.number > count:
            break
        write_image(real / f"{frame.number:05d}.png", frame.image)
    plate = folder / "plate"
    plate.mkdir()
    for n in range(1, frames + 1):
        os.symlink(real / f"{(n - 1) % count + 1:05d}.png", plate / f"plate.{n:05d}.png")
    return plate


def make_model(path: Path, tiny: bool = False) -> Path:
    """A SAEHD res 64 liae-ud model with random weights (ae64/e32/d32/dm16; ``tiny``: ae32/e16/d16/dm16),
    exported to ONNX."""
    from engine.export.onnx import export_swap_model
    from engine.models import build_model, model_options

    options = {o.name: o.default for o in model_options("saehd")}
    dims = (32, 16, 16) if tiny else (64, 32, 32)
    options.update(resolution=64, archi="liae-ud", ae_dims=dims[0], e_dims=dims[1], d_dims=dims[2], d_mask_dims=16,
                   face_type="wf")
    return export_swap_model(build_model("saehd", options), path, {"iteration": 0})


def make_track(plate: Path, frames: int, out: Path) -> Path:
    """A track for all frames: landmarks detected on the 100 real frames, repeated over the frame numbers."""
    from engine.swap.track import Track, TrackFrame
    from engine.swap.track_build import build_track

    real = build_track(plate.parent / "real", None, smooth=False, detect_cut=False)
    numbers = sorted(real.frames)
    track = Track({n: TrackFrame(n, f"plate.{n:05d}", real.frames[numbers[(n - 1) % len(numbers)]].faces)
                   for n in range(1, frames + 1)}, str(plate), None, real.image_size, real.fps)
    track.save(out)
    return out


class WorkerProcess:
    """One `facecomp worker` subprocess spoken to in JSON lines."""

    def __init__(self, model: Path):
        env = {**os.environ, "FACECOMP_NO_PROGRESS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.next_id = 0
        self.request("load", model=str(model))

    def request(self, op: str, **params) -> dict:
        self.next_id += 1
        rid = self.next_id
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"id": rid, "op": op, **params}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker ended during {op} (exit {self.proc.wait()})")
            msg = json.loads(line)
            if msg.get("id") != rid or msg.get("type") == "progress":
                continue
            if msg.get("type") == "error":
                raise RuntimeError(f"worker {op}: {msg.get('error')}")
            return msg

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, ValueError):
            self.request("shutdown")
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def long_render(frames: int, chunk: int, model: Path | None, use_track: bool, work: Path,
                log: bool = True, tiny: bool = False) -> dict:
    """Render ``frames`` frames in chunks through one worker; RSS samples and timings."""
    plate = make_plate(work, frames)
    model = model or make_model(work / "model.onnx", tiny)
    track = make_track(plate, frames, work / "track.json") if use_track else None
    out = work / "out"
    out.mkdir()
    worker = WorkerProcess(model)
    samples: list[tuple[int, float]] = [(0, rss_mib(worker.proc.pid))]
    start = time.perf_counter()
    first_chunk_s = 0.0
    try:
        for first in range(1, frames + 1, chunk):
            last = min(frames, first + chunk - 1)
            t0 = time.perf_counter()
            params = {"plate": str(plate / "plate.%05d.png"), "frames": f"{first}-{last}",
                      "out": str(out / "swap.%05d.exr")}
            if track is not None:
                params["track"] = str(track)
            worker.request("render", **params)
            if first == 1:
                first_chunk_s = time.perf_counter() - t0
            samples.append((last, rss_mib(worker.proc.pid)))
            for f in out.iterdir():
                f.unlink()
            if log:
                print(f"  {last:>6} frames  RSS {samples[-1][1]:7.1f} MiB  "
                      f"{1000 * (time.perf_counter() - t0) / (last - first + 1):6.1f} ms/frame", file=sys.stderr)
    finally:
        worker.close()
    seconds = time.perf_counter() - start
    warm = samples[1][1]
    return {"frames": frames, "chunk": chunk, "rss_start_mib": samples[0][1], "rss_warm_mib": warm,
            "rss_end_mib": samples[-1][1], "rss_peak_mib": max(s[1] for s in samples),
            "ms_per_frame": 1000 * (seconds - first_chunk_s) / max(frames - min(chunk, frames), 1)
            if frames > chunk else 1000 * seconds / frames,
            "samples": samples, "track": use_track}


def rows_from(result: dict) -> list[Row]:
    n = result["frames"]
    return [
        Row("long_render", f"worker RSS after {n} frames vs after the first chunk", result["rss_end_mib"], "MiB",
            result["rss_warm_mib"], "RSS after the first chunk, same run", FLAT, True,
            extra={k: v for k, v in result.items() if k != "samples"}),
        Row("long_render", f"worker peak RSS over {n} frames", result["rss_peak_mib"], "MiB",
            result["rss_warm_mib"], "RSS after the first chunk, same run", FLAT, True),
        Row("long_render", f"worker render ms/frame ({'track' if result['track'] else 'detect'} + swap + EXR write)",
            result["ms_per_frame"], "ms",
            None, "", None, True, note="no DFL counterpart"),
    ]


def run(smoke: bool) -> list[Row]:
    """The bench interface (bench/common.py): smoke = 6 frames in chunks of 3, else 1,000 in chunks of 100."""
    with tempfile.TemporaryDirectory(prefix="long_render_") as tmp:
        frames, chunk = (6, 3) if smoke else (1000, 100)
        return rows_from(long_render(frames, chunk, None, use_track=False, work=Path(tmp), log=not smoke,
                                     tiny=smoke))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--chunk", type=int, default=100)
    ap.add_argument("--model", type=Path, default=None, help="exported model (default: random-weight SAEHD 64)")
    ap.add_argument("--track", action="store_true", help="landmarks from a track instead of detection per frame")
    ap.add_argument("--json", type=Path, default=None, help="write the result (with all RSS samples) here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="long_render_") as tmp:
        result = long_render(args.frames, args.chunk, args.model, args.track, Path(tmp))
    print_table(rows_from(result), f"long render: {args.frames} frames through one worker")
    print(f"RSS at start {result['rss_start_mib']:.1f} MiB, after the first chunk {result['rss_warm_mib']:.1f} MiB, "
          f"at the end {result['rss_end_mib']:.1f} MiB (peak {result['rss_peak_mib']:.1f} MiB)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
