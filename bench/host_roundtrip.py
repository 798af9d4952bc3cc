"""Cost of the host round trip per frame, run by hand:

    .venv/bin/python bench/host_roundtrip.py [--frames 8] [--res 224] [--size 1920x1080] [--provider cpu]

What a compositor's node pays beyond the swap itself: the worker (`facecomp worker`, driven by the hosts' own
client host_kit/client.py) reads the plate file directly (the upstream Read's EXR; with a track, only the
scanlines the faces cover), swaps, writes the EXR passes in the hosts' layout (face + facemask, no merged rgba,
inside the faces' data window), and the host reads them back data-window aware (only the window's pixels, as
Nuke's and Fusion's readers do; the over onto the plate happens in the host's graph). Measured per frame on the
same frames and the same track, all in this process' run:

* model inference alone (one aligned face through ONNX Runtime),
* the in-process swap of a frame already in memory (alignment, inference, merge, colour; no files, no IPC): the
  baseline; and the same without the merged frame (the worker makes it only when ``rgba`` is asked for: the host
  does the over),
* the round trip (request -> worker reads plate EXR -> swap -> writes passes EXR -> host reads them) with the
  issue's layout (face + facemask in the faces' data window), and with the hosts' default passes (also per-face
  mattes, the Cryptomatte and the STMap, whose 32-bit part costs more), and the same passes in one EXR part (what
  the Resolve script asks for: Psyop's Cryptomatte fuse for Fusion refuses multi-part files),
* the same round trip with the old full-frame layout (merged rgba + face + mask, 8 channels),
* the round trip when the host must first write its input as EXR (Nuke's 'plate from input' path),
* where the issue's layout spends its time: the worker's own stage times (FACECOMP_WORKER_PROFILE=1: plate read,
  swap, passes write, sent in its progress messages), the host's read, and the rest (request, reply, processes).

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


def make_model(path: Path, res: int, smoke: bool) -> Path:
    import torch

    from engine.export.onnx import export_swap_model
    from engine.models import build_model

    torch.manual_seed(0)
    options = {"resolution": res, "archi": "liae-ud"}
    if smoke:
        options.update(ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16)
    return export_swap_model(build_model("saehd", options).eval(), path)


def _stage_ms(stages: list[dict[str, float]], name: str) -> float:
    return statistics.median(st.get(name, 0.0) for st in stages)


def measure(frames: int, res: int, width: int, height: int, provider: str, smoke: bool = False) -> list[Row]:
    import os

    from engine.media.image_io import read_image, write_exr
    from engine.swap.render import Renderer, load_settings
    from engine.swap.track_build import build_track
    from engine.worker.server import PROFILE_ENV
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

    # the worker reports each frame's stage times (plate read, swap, passes write) in its progress messages
    worker = fc.WorkerClient(fc.facecomp_command(facecomp_exe()), env={**os.environ, PROFILE_ENV: "1"})
    worker.start()
    worker.load(str(model), provider)
    params = dict(plate=plate, model=str(model), provider=provider, working_space=SPACE, overrides=settings,
                  track=str(track), out=str(tmp / "passes" / "fs.%04d.exr"))  # the hosts' default passes
    variants = {"lean": dict(params, passes=["face", "facemask"], out=str(tmp / "lean" / "fs.%04d.exr")),
                "default": params,
                "fusion": dict(params, exr_layout="single", out=str(tmp / "fusion" / "fs.%04d.exr")),
                "old": dict(params, passes=["rgba", "face", "mask"], out=str(tmp / "old" / "fs.%04d.exr")),
                "input": dict(params, plate=str(tmp / "input" / "in.%04d.exr"))}
    infer: list[float] = []
    swap: list[float] = []
    swap_passes: list[float] = []
    trips: dict[str, list[float]] = {k: [] for k in variants}
    stages: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    host_read: dict[str, list[float]] = {k: [] for k in variants}
    windows: dict[str, tuple[int, int, int, int]] = {}
    worker.render(frames=[numbers[0]], **params)  # warm-up: first-frame caches in the worker
    # every frame: the in-process figures, then the round trips (interleaved: load changes hit them alike)
    for n, img in zip(numbers, images, strict=True):
        t = time.perf_counter()
        renderer.model.run(face)
        infer.append(time.perf_counter() - t)
        t = time.perf_counter()
        renderer.swap(img, n, fs, tr, SPACE)
        swap.append(time.perf_counter() - t)
        t = time.perf_counter()  # what the worker does for passes without rgba: no merged frame
        renderer.swapper.swap(img, renderer.faces(n, img, tr, SPACE), fs.for_frame(n), SPACE, compose=False)
        swap_passes.append(time.perf_counter() - t)
        for name, request in variants.items():
            got: list[dict[str, float]] = []
            t = time.perf_counter()
            if name == "input":
                write_exr(tmp / "input" / f"in.{n}.exr", {"R": img[..., 2], "G": img[..., 1], "B": img[..., 0]})
            worker.render(frames=[n], on_progress=lambda msg, got=got: got.append(msg.get("timings_ms", {})),
                          **request)
            r0 = time.perf_counter()
            _, windows[name] = read_passes(Path(str(request["out"]) % n))
            host_read[name].append(time.perf_counter() - r0)
            trips[name].append(time.perf_counter() - t)
            stages[name].extend(got)
    worker.close()
    whole = []
    for n in numbers:
        t = time.perf_counter()
        read_image(tmp / f"plate.{n}.exr")
        whole.append(time.perf_counter() - t)

    t_infer, t_swap = _median_ms(infer), _median_ms(swap)
    where = f"{width}x{height}, res {res}, {len(numbers)} frames, {', '.join(renderer.providers)}"
    base = "in-process swap, same run"

    def size(name: str) -> str:
        x0, y0, x1, y1 = windows[name]
        return f"{x1 - x0 + 1}x{y1 - y0 + 1}"

    lean, default, fusion = stages["lean"], stages["default"], stages["fusion"]
    rest = statistics.median(1000.0 * (trip - read) - sum(st.values())  # per frame: not in a stage nor the read
                             for trip, read, st in zip(trips["lean"], host_read["lean"], lean, strict=True))
    return [
        Row("host_roundtrip", f"model inference, 1 face ({where})", t_infer, "ms"),
        Row("host_roundtrip", "in-process swap of a frame in memory", t_swap, "ms", t_infer, "model inference"),
        Row("host_roundtrip", "  the same without making the merged frame (what the passes need)",
            _median_ms(swap_passes), "ms", t_swap, base),
        Row("host_roundtrip", f"round trip: plate file -> worker -> face + facemask in the faces' data window "
            f"({size('lean')}), read back (the issue's layout)", _median_ms(trips["lean"]), "ms", t_swap, base,
            target=1.2),
        Row("host_roundtrip", f"round trip, the hosts' default passes: + mattes, Cryptomatte, STMap (data window "
            f"{size('default')})", _median_ms(trips["default"]), "ms", t_swap, base),
        Row("host_roundtrip", "round trip, Resolve's request: the default passes in one EXR part (Psyop's Fusion "
            "Cryptomatte fuse reads no multi-part file)", _median_ms(trips["fusion"]), "ms", t_swap, base),
        Row("host_roundtrip", "round trip, old layout (rgba + face + mask, full frame)", _median_ms(trips["old"]), "ms",
            t_swap, base),
        Row("host_roundtrip", "round trip incl. the host writing its input EXR (default passes)",
            _median_ms(trips["input"]), "ms", t_swap, base),
        Row("host_roundtrip", "round trip vs inference alone (default passes)", _median_ms(trips["default"]), "ms",
            t_infer, "model inference"),
        Row("host_roundtrip", "  issue's layout, worker: read the plate (the faces' scanlines)",
            _stage_ms(lean, "plate"), "ms", t_swap, base),
        Row("host_roundtrip", "  issue's layout, worker: swap", _stage_ms(lean, "swap"), "ms", t_swap, base),
        Row("host_roundtrip", "  issue's layout, worker: write the passes", _stage_ms(lean, "passes"), "ms", t_swap,
            base),
        Row("host_roundtrip", "  issue's layout, host: read the passes", _median_ms(host_read["lean"]), "ms", t_swap,
            base),
        Row("host_roundtrip", "  issue's layout, the rest (request, reply, processes)", rest, "ms", t_swap, base),
        Row("host_roundtrip", "  default passes, worker: write the passes", _stage_ms(default, "passes"), "ms", t_swap,
            base),
        Row("host_roundtrip", "  default passes, host: read the passes", _median_ms(host_read["default"]), "ms",
            t_swap, base),
        Row("host_roundtrip", "  Resolve's one-part file, worker: write the passes", _stage_ms(fusion, "passes"), "ms",
            t_swap, base),
        Row("host_roundtrip", "  the whole plate read (no track, or rgba)", _median_ms(whole), "ms", t_swap, base),
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
