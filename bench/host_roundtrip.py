"""Cost of the host round trip per frame, run by hand:

    .venv/bin/python bench/host_roundtrip.py [--frames 8] [--res 224] [--size 1920x1080] [--provider cpu]

What a compositor's node pays beyond the swap itself: the worker (`facecomp worker`, driven by the hosts' own
client host_kit/client.py) reads the plate file directly (the upstream Read's EXR), swaps, writes the EXR passes
in the hosts' layout (face + facemask, no merged rgba; inside the faces' data window when the engine writes one),
and the host reads them back data-window aware (only the window's pixels, as Nuke's and Fusion's readers do; the
over onto the plate happens in the host's graph). Measured per frame on the same frames and the same track, all
in this process' run:

* model inference alone (one aligned face through ONNX Runtime),
* the in-process swap of a frame already in memory (alignment, inference, merge, colour; no files, no IPC),
* the round trip (request -> worker reads plate EXR -> swap -> writes passes EXR -> host reads them) with the
  issue's layout (face + facemask in the faces' data window), and with the hosts' default passes (also per-face
  mattes, the Cryptomatte and the STMap, whose 32-bit part costs more),
* the same round trip with the old full-frame layout (merged rgba + face + mask, 8 channels),
* the round trip when the host must first write its input as EXR (Nuke's 'plate from input' path).

Target: round trip <= 1.2x the in-process swap (<= 20 % overhead) at 1080p with a res-224 model
(SAEHD liae-ud, DeepFaceLab's default dims, random weights: speed does not depend on their values).
The plate is dst_obama_speaking.mp4 letterboxed to the chosen size, as ACEScg half-float EXR.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import DATA, Row, print_table  # noqa: E402

SPACE = "ACEScg"


def _median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000.0


def make_plate(folder: Path, frames: int, width: int, height: int) -> list[np.ndarray]:
    """The first frames of the demo clip letterboxed to width x height, ACEScg, written as plate.1001.exr..."""
    import cv2

    from engine.media import color
    from engine.media.frames import open_frames
    from engine.media.image_io import to_float, write_exr

    images = []
    for fr in open_frames(DATA / "video" / "dst_obama_speaking.mp4"):
        if fr.number > frames:
            break
        h, w = fr.image.shape[:2]
        scale = min(width / w, height / h)
        small = cv2.resize(fr.image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        canvas = np.zeros((height, width, 3), np.uint8)
        y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
        bgr = color.convert(to_float(canvas), "sRGB - Texture", SPACE)
        write_exr(folder / f"plate.{1000 + fr.number}.exr", {"R": bgr[..., 2], "G": bgr[..., 1], "B": bgr[..., 0]})
        images.append(bgr)
    return images


def read_passes(path: Path) -> tuple[dict[str, np.ndarray], tuple[int, int, int, int]]:
    """What the host's reader does: the channels of the data window only, and where that window lies."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    pixels = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "half"))
    inp.close()
    pixels = pixels.reshape(spec.height, spec.width, spec.nchannels)
    window = (spec.x, spec.y, spec.x + spec.width - 1, spec.y + spec.height - 1)
    return {n: pixels[..., i] for i, n in enumerate(spec.channelnames)}, window


def write_window(path: Path, channels: dict[str, np.ndarray], full: tuple[int, int]) -> tuple[int, int, int, int]:
    """The passes as the data-window layout stores them (CONTRACTS.md): only the faces' bounding box (from the
    mask), half float, the pass compression; returns the window. Stands in for the engine's writer until it
    writes data windows itself."""
    import OpenImageIO as oiio

    from engine.swap.outputs import PASS_COMPRESSION

    mask = next(v for k, v in channels.items() if k.endswith("mask.A")).astype(np.float32)
    ys, xs = np.nonzero(mask > 0)
    x0, x1, y0, y1 = (int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())) if len(xs) else (0, 0, 0, 0)
    names = sorted(channels)
    crop = np.stack([channels[n][y0:y1 + 1, x0:x1 + 1].astype(np.float32) for n in names], axis=-1)
    spec = oiio.ImageSpec(x1 - x0 + 1, y1 - y0 + 1, len(names), "half")
    spec.x, spec.y, spec.full_x, spec.full_y = x0, y0, 0, 0
    spec.full_width, spec.full_height = full
    spec.channelnames = tuple(names)
    spec.attribute("compression", PASS_COMPRESSION)
    out = oiio.ImageOutput.create(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    out.open(str(path), spec)
    out.write_image(crop)
    out.close()
    return x0, y0, x1, y1


def make_model(path: Path, res: int, smoke: bool) -> Path:
    import torch

    from engine.export.onnx import export_swap_model
    from engine.models import build_model

    torch.manual_seed(0)
    options = {"resolution": res, "archi": "liae-ud"}
    if smoke:
        options.update(ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16)
    return export_swap_model(build_model("saehd", options).eval(), path)


def measure(frames: int, res: int, width: int, height: int, provider: str, smoke: bool = False) -> list[Row]:
    from engine.media.image_io import read_image, write_exr
    from engine.swap.outputs import PASS_COMPRESSION
    from engine.swap.render import Renderer, load_settings
    from engine.swap.track_build import build_track
    from host_kit import client as fc
    from tests.hosts.hostkit import facecomp_exe

    tmp = Path(tempfile.mkdtemp(prefix="host_roundtrip_"))
    images = make_plate(tmp, frames, width, height)
    numbers = [1001 + i for i in range(len(images))]
    model = make_model(tmp / "model.onnx", res, smoke)
    plate = str(tmp / "plate.%04d.exr")
    track = tmp / "track.json"
    build_track(plate, provider=provider, working_space=SPACE).save(track)
    settings = {"blur": 20}

    renderer = Renderer(model, provider)
    fs = load_settings(None, settings)
    tr = renderer.track(track)
    face = np.random.default_rng(0).random((1, res, res, 3), np.float32)
    renderer.model.run(face)
    infer = []
    for _ in range(max(3, len(numbers))):
        t = time.perf_counter()
        renderer.model.run(face)
        infer.append(time.perf_counter() - t)
    swap = []
    for n, img in zip(numbers, images, strict=True):
        t = time.perf_counter()
        renderer.swap(img, n, fs, tr, SPACE)
        swap.append(time.perf_counter() - t)

    worker = fc.WorkerClient(fc.facecomp_command(facecomp_exe()))
    worker.start()
    worker.load(str(model), provider)
    params = dict(plate=plate, model=str(model), provider=provider, working_space=SPACE, overrides=settings,
                  track=str(track), out=str(tmp / "passes" / "fs.%04d.exr"))  # the hosts' default passes
    old = dict(params, passes=["rgba", "face", "mask"], out=str(tmp / "old" / "fs.%04d.exr"))
    lean = dict(params, passes=["face", "facemask"], out=str(tmp / "lean" / "fs.%04d.exr"))
    worker.render(frames=[numbers[0]], **params)  # warm-up: first-frame caches in the worker
    trip, trip_old, trip_write, trip_lean = [], [], [], []
    for n, img in zip(numbers, images, strict=True):  # interleaved: load changes hit every variant alike
        t = time.perf_counter()
        worker.render(frames=[n], **params)
        _, window = read_passes(tmp / "passes" / f"fs.{n}.exr")
        trip.append(time.perf_counter() - t)
        t = time.perf_counter()
        worker.render(frames=[n], **old)
        read_passes(tmp / "old" / f"fs.{n}.exr")
        trip_old.append(time.perf_counter() - t)
        t = time.perf_counter()
        worker.render(frames=[n], **lean)
        read_passes(tmp / "lean" / f"fs.{n}.exr")
        trip_lean.append(time.perf_counter() - t)
        t = time.perf_counter()
        write_exr(tmp / "input" / f"in.{n}.exr", {"R": img[..., 2], "G": img[..., 1], "B": img[..., 0]})
        worker.render(frames=[n], **{**params, "plate": str(tmp / "input" / "in.%04d.exr")})
        read_passes(tmp / "passes" / f"fs.{n}.exr")
        trip_write.append(time.perf_counter() - t)
    worker.close()
    io_read, io_write, io_back, win_write, win_back = [], [], [], [], []
    for n in numbers:
        t = time.perf_counter()
        read_image(tmp / f"plate.{n}.exr")
        io_read.append(time.perf_counter() - t)
        passes, _ = read_passes(tmp / "passes" / f"fs.{n}.exr")
        t = time.perf_counter()
        write_exr(tmp / "io" / f"fs.{n}.exr", {k: v.astype(np.float32) for k, v in passes.items()}, half=True,
                  compression=PASS_COMPRESSION)
        io_write.append(time.perf_counter() - t)
        t = time.perf_counter()
        read_passes(tmp / "io" / f"fs.{n}.exr")
        io_back.append(time.perf_counter() - t)
        t = time.perf_counter()
        box = write_window(tmp / "win" / f"fs.{n}.exr", passes, (width, height))
        win_write.append(time.perf_counter() - t)
        t = time.perf_counter()
        read_passes(tmp / "win" / f"fs.{n}.exr")
        win_back.append(time.perf_counter() - t)

    t_infer, t_swap = _median_ms(infer), _median_ms(swap)
    t_trip, t_trip_old, t_trip_write = _median_ms(trip), _median_ms(trip_old), _median_ms(trip_write)
    where = f"{width}x{height}, res {res}, {len(numbers)} frames, {', '.join(renderer.providers)}"
    base = "in-process swap, same run"
    x0, y0, x1, y1 = window
    layout = f"{len(passes)} channels, data window {x1 - x0 + 1}x{y1 - y0 + 1}"
    bx = f"{box[2] - box[0] + 1}x{box[3] - box[1] + 1}"
    return [
        Row("host_roundtrip", f"model inference, 1 face ({where})", t_infer, "ms"),
        Row("host_roundtrip", "in-process swap of a frame in memory", t_swap, "ms", t_infer, "model inference"),
        Row("host_roundtrip", "round trip: plate file -> worker -> face + facemask in the faces' data window, read "
            "back (the issue's layout)", _median_ms(trip_lean), "ms", t_swap, base, target=1.2),
        Row("host_roundtrip", f"round trip, the hosts' default passes: + mattes, Cryptomatte, STMap ({layout})",
            t_trip, "ms", t_swap, base),
        Row("host_roundtrip", "round trip, old layout (rgba + face + mask, full frame)", t_trip_old, "ms", t_swap,
            base),
        Row("host_roundtrip", "round trip incl. the host writing its input EXR", t_trip_write, "ms", t_swap, base),
        Row("host_roundtrip", "round trip vs inference alone", t_trip, "ms", t_infer, "model inference"),
        Row("host_roundtrip", "  of which: worker reads the plate EXR", _median_ms(io_read), "ms", t_swap, base),
        Row("host_roundtrip", "  of which: worker writes the passes EXR", _median_ms(io_write), "ms", t_swap, base),
        Row("host_roundtrip", "  of which: host reads the passes EXR", _median_ms(io_back), "ms", t_swap, base),
        Row("host_roundtrip", f"  data window {bx}: write the passes", _median_ms(win_write), "ms", t_swap, base),
        Row("host_roundtrip", f"  data window {bx}: host reads them", _median_ms(win_back), "ms", t_swap, base),
    ]


def run(smoke: bool) -> list[Row]:
    """bench/run_all.py entry: smoke = 2 small frames with a small model."""
    if smoke:
        return measure(2, 64, 640, 360, "cpu", smoke=True)
    return measure(8, 224, 1920, 1080, "cpu")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--res", type=int, default=224)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--provider", default="cpu")
    p.add_argument("--smoke", action="store_true", help="small model, for a quick check that the bench runs")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    rows = measure(args.frames, args.res, width, height, args.provider, args.smoke)
    print_table(rows, "Host round trip per frame (median); figures under load are contended")
    return 0


if __name__ == "__main__":
    sys.exit(main())
