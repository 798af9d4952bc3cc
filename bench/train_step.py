"""Training step speed of facecomp's trainer against DeepFaceLab's on the same kind of 2-core CPU.

For each of DFL's benchmark configs (dfl_peer.md §1: batch 4; SAEHD res64/res96 liae-ud/df-ud, Quick96), in
fp32 and bf16, each in its own subprocess (so peak RSS is per config):
  full     ms/iter of the real loop (batch from the background sample generator + step), as DFL's console
  compute  ms/iter of the step alone on one frozen batch (DFL's "compute-only")
  CPU-s    process CPU seconds per full iteration (robust to other load on the machine)
  GFLOP/s  FLOPs of one step (torch.utils.flop_counter) / compute time
  RSS      peak resident set of the training process (VmHWM: since its exec, as DFL's `time -v` figure; not
           ru_maxrss, which Linux carries over from the forking parent)
and the ratio of full ms/iter to DFL's figure measured on the same CPU family (family 25 where there is none; the
target is <= 0.5).

    .venv/bin/python bench/train_step.py                 # all rows, fp32 and bf16
    .venv/bin/python bench/train_step.py --rows s64l q96 --precisions bf16 --iters 15
    python bench/train_step.py --device cuda --faces DIR   # the GPU configs (bench/train_step_cuda.py)
    .venv/bin/python bench/train_step.py --xseg-chain 256 8  # XSeg's chain: OpenCV vs the device code on the CPU
Faces: whole_face 256 px facesets extracted once from ../shared/data into the temp dir (reused).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import DATA, Row, cpu_name  # noqa: E402

FACES = Path(tempfile.gettempdir()) / "facecomp_bench_faces"

ROWS = {
    "s64l": ("saehd", dict(resolution=64, archi="liae-ud", ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16)),
    "s64d": ("saehd", dict(resolution=64, archi="df-ud", ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16)),
    "s96l": ("saehd", dict(resolution=96, archi="liae-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=22)),
    "s96d": ("saehd", dict(resolution=96, archi="df-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=22)),
    "q96": ("quick96", {}),
}
# DFL 46fc2397, TF 2.15.1 CPU, 2 vCPU AMD EPYC, batch 4, quiet: full / compute ms/iter and peak RSS GiB per row, by
# the CPU family measured on (machines of this kind differ by ~2x: a ratio needs DFL's figure on the same family).
# None: not measured on that family.
DFL_FIGURES: dict[int, dict[str, tuple[float | None, float | None, float | None]]] = {
    25: {  # Zen 4 (avx512_bf16): dfl_peer.md §1
        "s64l": (256, 215, 1.07), "s64d": (237, 186, 1.05), "s96l": (1558, 1576, 2.73),
        "s96d": (1322, 1353, 2.60), "q96": (1381, 1371, 2.10),
    },
    23: {  # Zen 2 (AVX2, no bf16): measured side by side with this bench on 2026-12-05 (docs/training.md, CPU
        # figures); DFL's SAEHD driver only, so no Quick96 figure, and no RSS
        "s64l": (537, 470, None), "s64d": (406, 370, None), "s96l": (3057, 3004, None), "s96d": (2488, 2396, None),
        "q96": (None, None, None),
    },
}


def cpu_family() -> int | None:
    """The CPU family of /proc/cpuinfo (Linux x86), else None."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("cpu family"):
                    return int(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def dfl_figures() -> tuple[int, dict[str, tuple[float | None, float | None, float | None]]]:
    """DFL's figures measured on this machine's CPU family, else the family-25 ones (and which family they are)."""
    family = cpu_family()
    family = family if family in DFL_FIGURES else 25
    return family, DFL_FIGURES[family]


# DFL's benchmark option values (dfl_peer.md §1) that differ from our defaults: face_type f, no flips for src
BENCH_OPTIONS = dict(face_type="f", batch_size=4, random_src_flip=False, random_dst_flip=True)


def facesets(limit: int | None = None) -> tuple[Path, Path]:
    """src/dst whole_face 256 px facesets of the shared demo media (extracted once; ``limit``: only the first
    frames of each, in their own folder)."""
    root = FACES if limit is None else FACES / f"first{limit}"
    src, dst = root / "src", root / "dst"
    if not (root / ".done").exists():
        from engine.faces.extract_faceset import extract_faces
        from engine.media.frames import open_frames
        from engine.media.image_io import write_image

        frames = root / "dst_frames"
        frames.mkdir(parents=True, exist_ok=True)
        for f in open_frames(DATA / "video" / "dst_obama_speaking.mp4"):
            if f.number > (limit or 40):
                break
            write_image(frames / f"{f.number:05d}.png", f.image)
        src_frames = DATA / "src_frames"
        if limit is not None:
            src_frames = root / "src_frames"
            src_frames.mkdir(exist_ok=True)
            for file in sorted(p for p in (DATA / "src_frames").iterdir() if p.is_file())[:limit]:
                shutil.copy(file, src_frames / file.name)
        extract_faces(src_frames, src, image_size=256, max_faces=1, overwrite=True)
        extract_faces(frames, dst, image_size=256, max_faces=1, overwrite=True)
        (root / ".done").touch()
    return src, dst


def peak_rss_kib() -> int:
    """Peak resident set of this process since its exec (VmHWM, KiB); ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(row: str, precision: str, iters: int, warmup: int, limit: int | None = None, fused: bool = True) -> dict:
    """One config in this process: full and compute ms/iter, CPU s/iter, GFLOP/s, peak RSS (``limit``: faces of
    the first frames only; ``fused``: wait for the fused optimizer update as long runs use it)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from engine.models import normalize_options
    from engine.training.trainer import Trainer, TrainSettings

    kind, opts = ROWS[row]
    src, dst = facesets(limit)
    options = normalize_options(kind, {**(BENCH_OPTIONS if kind == "saehd" else {"batch_size": 4}), **opts})
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(TrainSettings(model_dir=Path(tmp), kind=kind, options=options, src=src, dst=dst,
                                  precision=precision, preview_every=0, quiet=True))
        t.setup()
        torch.set_flush_denormal(t.device.type == "cpu")  # as Trainer.run (precision.denormals_flushed)
        # long runs switch to the fused update after 100 iterations: measure that
        fused = t.opt.compile_now() if fused else None
        if fused is not None:
            fused.wait()
        for _ in range(warmup):
            t.step(t.next_batch())
            t.iteration += 1
        full, cpu0 = [], time.process_time()
        for _ in range(iters):
            a = time.perf_counter()
            t.step(t.next_batch())
            t.iteration += 1
            full.append((time.perf_counter() - a) * 1000)
        cpu = (time.process_time() - cpu0) / iters
        frozen = t.next_batch()
        compute = []
        for _ in range(iters):
            a = time.perf_counter()
            t.step(frozen)
            compute.append((time.perf_counter() - a) * 1000)
        with FlopCounterMode(display=False) as counter:
            t.step(frozen)
        flops = counter.get_total_flops()
        t.feeder.close()
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {"row": row, "precision": t.precision.name, "full_ms": med(full), "compute_ms": med(compute),
            "cpu_s": cpu, "gflops": flops / 1e9 / (med(compute) / 1000), "gflop_step": flops / 1e9,
            "rss_gib": peak_rss_kib() / 2**20, "threads": torch.get_num_threads(),
            "fused_optimizer": bool(fused is not None and fused.fn is not None)}


def measure_in_subprocess(row: str, prec: str, iters: int, warmup: int, threads: int) -> dict | str:
    """``measure`` in a fresh process (its own peak RSS); the result, or the last error line when it failed."""
    r = subprocess.run([sys.executable, __file__, "--one", row, prec, "--iters", str(iters),
                        "--warmup", str(warmup), "--threads", str(threads)],
                       capture_output=True, text=True, cwd=REPO)
    if r.returncode:
        return (r.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(r.stdout.strip().splitlines()[-1])


def rows_from(m: dict) -> list[Row]:
    """The bench interface's rows of one config: full ms/iter against DFL's (target 0.5x), compute, peak RSS."""
    family, figures = dfl_figures()
    dfl_full, dfl_compute, dfl_rss = figures[m["row"]]
    name, base = f"{m['row']} {m['precision']}", f"DFL (CPU family {family})"
    return [Row("train_step", f"{name} full ms/iter (batch 4)", m["full_ms"], "ms", dfl_full, base, 0.5, extra=m),
            Row("train_step", f"{name} compute ms/iter (frozen batch)", m["compute_ms"], "ms", dfl_compute, base),
            Row("train_step", f"{name} peak RSS", m["rss_gib"], "GiB", dfl_rss, base)]


def run(smoke: bool) -> list[Row]:
    """bench/run_all.py entry: smoke = s64l fp32, 2 iterations on the faces of 4 frames, in this process;
    else every config in fp32 and bf16, each in its own process."""
    if smoke:
        return rows_from(measure("s64l", "fp32", iters=2, warmup=1, limit=4, fused=False))
    facesets()
    rows: list[Row] = []
    for row in ROWS:
        for prec in ("fp32", "bf16"):
            m = measure_in_subprocess(row, prec, 25, 5, 0)
            if isinstance(m, str):
                raise RuntimeError(f"{row} {prec} failed: {m}")
            rows += rows_from(m)
    return rows


def xseg_chain(res: int, batch: int, reps: int = 8) -> dict:
    """XSeg's augmentation chain per batch in this process, one thread each: the OpenCV chain (host pipeline)
    against the device chain on the CPU device (draws, packing and augment_batch), same seeds; medians (ms)."""
    import cv2
    import numpy as np
    import torch

    from engine.training.xseg_samples import BatchMaker, XSegFaces, batch_tensors
    from engine.xseg.data import scan_facesets, select_training

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    samples = select_training(scan_facesets([facesets()[1]]), auto=True)
    faces = XSegFaces(res, "whole_face")
    for s in samples:
        faces.load(s)
    host, dev = (BatchMaker(samples, faces, batch, 0, device_augment=d) for d in (False, True))
    host.close()
    dev.close()
    cpu = torch.device("cpu")
    runs = {"host": lambda rng: host.make(rng), "device": lambda rng: batch_tensors(dev.make_raw(rng), cpu)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for rep in range(reps + 1):
        for name, fn in runs.items():
            a = time.perf_counter()
            fn(np.random.default_rng(rep))
            if rep:  # the first batch builds caches
                times[name].append((time.perf_counter() - a) * 1000)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return {"res": res, "batch": batch, "host_ms": med["host"], "device_ms": med["device"],
            "device_over_host": med["device"] / med["host"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--precisions", nargs="*", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--iters", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="compute threads (0 = PyTorch's default: one per core)")
    ap.add_argument("--one", nargs=2, metavar=("ROW", "PRECISION"), help=argparse.SUPPRESS)
    ap.add_argument("--xseg-chain", nargs=2, type=int, metavar=("RES", "BATCH"),
                    help="time XSeg's augmentation chain per batch: host (OpenCV) vs device code on the CPU")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: the GPU rows (train_step_cuda)")
    ap.add_argument("--faces", type=Path, help="cuda: folder with src/ and dst/ aligned facesets (default: extract)")
    ap.add_argument("--configs", nargs="*", help="cuda: configs to run (default: all)")
    ap.add_argument("--variants", nargs="*", help="cuda: step variants (default: all)")
    ap.add_argument("--log", type=Path, help="cuda: append each result as a JSON line here")
    ap.add_argument("--plan", nargs="*", help="cuda: CONFIG:VARIANT:PRECISION runs, in this order")
    args = ap.parse_args()
    if args.xseg_chain:
        m = xseg_chain(*args.xseg_chain)
        print(f"CPU: {cpu_name()}; load average {os.getloadavg()[0]:.2f}; XSeg {m['res']} px batch {m['batch']}, one "
              f"thread each: host chain {m['host_ms']:.0f} ms, device chain on the CPU {m['device_ms']:.0f} ms "
              f"({m['device_over_host']:.2f}x)")
        return
    if args.device == "cuda":
        from bench import train_step_cuda as gpu

        faces = args.faces or facesets()[0].parent
        gpu.run_all(faces, args.configs or list(gpu.CONFIGS), args.variants or list(gpu.VARIANTS),
                    args.precisions, args.iters, args.warmup, args.log, args.plan)
        return
    if args.one:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        print(json.dumps(measure(args.one[0], args.one[1], args.iters, args.warmup)))
        return
    facesets()
    family, figures = dfl_figures()
    print(f"CPU: {cpu_name()}; load average {os.getloadavg()[0]:.2f} at start (DFL's figures: a quiet machine, CPU "
          f"family {family})")
    print(f"threads: {args.threads or 'default'}; full = with the sample generator, compute = frozen batch")
    print(f"{'config':<7}{'prec':<6}{'full ms':>9}{'compute':>9}{'CPU-s':>7}{'GFLOP/s':>9}{'RSS GiB':>9}"
          f"{'DFL ms':>8}{'ratio':>7}{'DFL RSS':>8}")
    for row in args.rows:
        for prec in args.precisions:
            m = measure_in_subprocess(row, prec, args.iters, args.warmup, args.threads)
            if isinstance(m, str):
                print(f"{row:<7}{prec:<6} failed: {m}")
                continue
            dfl_full, _, dfl_rss = figures[row]
            ratio = f"{m['full_ms'] / dfl_full:.2f}" if dfl_full else "-"
            print(f"{row:<7}{prec:<6}{m['full_ms']:>9.0f}{m['compute_ms']:>9.0f}{m['cpu_s']:>7.2f}{m['gflops']:>9.1f}"
                  f"{m['rss_gib']:>9.2f}{dfl_full or '-':>8}{ratio:>7}{dfl_rss or '-':>8}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end; ratio = full ms / DFL full ms (target <= 0.5)")


if __name__ == "__main__":
    main()
