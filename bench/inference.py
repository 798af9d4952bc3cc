"""Swap-model inference speed: ms per face, PyTorch eager vs ONNX Runtime (fp32, fp16), run by hand:

    .venv/bin/python bench/inference.py [--threads 2] [--runs 30] [--configs saehd_64_liae_ud,quick96,...]

Each config is built with random weights (speed does not depend on their values), exported with
engine.export.onnx, and timed at batch 1 and batch 8 after warm-up runs. Figures are medians, printed
with ratios against PyTorch eager fp32 measured in this same process, and against DeepFaceLab's own
.dfm export (ONNX Runtime CPU, batch 1: 10.8 ms/face for SAEHD res 64 liae-ud ae64/e32/d32/dm16 on a
CPU family 25 EPYC, shared/research/dfl_peer.md §1.3). Target: ORT <= 1.0x DFL's DFM per face.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, cpu_name  # noqa: E402
from engine.export.onnx import DFMGraph, export_swap_model  # noqa: E402
from engine.models import build_model, parameter_summary  # noqa: E402

DFL_DFM_MS = {"saehd_64_liae_ud": 10.8}  # per face, batch 1, family-25 EPYC (dfl_peer.md §1.3)
CONFIGS = {
    "saehd_64_liae_ud": ("saehd_64_liae_ud", {}),
    "saehd_224_liae_ud": ("saehd", {"resolution": 224, "archi": "liae-ud"}),  # DFL's default dims at 224 px
    "quick96": ("quick96", {}),
    "amp_224": ("amp", {}),
}


CLOCK = time.perf_counter  # --clock cpu: process CPU time (robust on a busy machine; use with --threads 1)


def median_ms(fn, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return statistics.median(times) * 1000


def bench_config(name: str, runs: int, threads: int, batches: tuple[int, ...], tmp: Path) -> list[dict]:
    import onnxruntime as ort

    kind, options = CONFIGS[name]
    torch.manual_seed(0)
    model = build_model(kind, options).eval()
    res, amp = model.resolution, model.kind == "amp"
    paths = {p: export_swap_model(model, tmp / f"{name}_{p}.onnx", fp16=(p == "fp16")) for p in ("fp32", "fp16")}
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sessions = {p: ort.InferenceSession(str(f), so, providers=["CPUExecutionProvider"]) for p, f in paths.items()}
    graph = DFMGraph(model)
    rows = []
    for batch in batches:
        faces = np.random.default_rng(0).random((batch, res, res, 3), dtype=np.float32)
        feed = {"in_face:0": faces}
        if amp:
            feed["morph_value:0"] = np.array([0.75], np.float32)
        t_faces = torch.from_numpy(faces)
        morph = torch.tensor([0.75]) if amp else None

        def eager(t_faces=t_faces, morph=morph):
            with torch.inference_mode():
                graph(t_faces, morph)

        def eager_bf16(t_faces=t_faces, morph=morph):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                graph(t_faces, morph)

        n = max(3, runs // batch)
        figures = {"torch fp32": median_ms(eager, n), "torch bf16": median_ms(eager_bf16, n)}
        for p, sess in sessions.items():
            figures[f"ORT {p}"] = median_ms(lambda sess=sess, feed=feed: sess.run(None, feed), n)
        rows.append({"config": name, "params": parameter_summary(model)["total"], "batch": batch,
                     **{k: v / batch for k, v in figures.items()}})
    return rows


def rows_from(row: dict) -> list[Row]:
    """The bench interface's rows of one config and batch: ms/face against torch eager fp32 of this run, and
    ORT fp32 against DeepFaceLab's DFM where dfl_peer.md has its figure (target <= 1.0x)."""
    name, batch, base = row["config"], row["batch"], row["torch fp32"]
    rows = [Row("inference", f"{name} batch {batch} {k} ms/face", row[k], "ms", base, "torch eager fp32, same run")
            for k in ("torch bf16", "ORT fp32", "ORT fp16")]
    dfl = DFL_DFM_MS.get(name) if batch == 1 else None
    if dfl:
        rows.append(Row("inference", f"{name} batch 1 ORT fp32 ms/face vs DFL's DFM", row["ORT fp32"], "ms", dfl,
                        "DFL DFM on ORT (dfl_peer.md §1.3)", 1.0))
    return rows


def run(smoke: bool) -> list[Row]:
    """bench/run_all.py entry: smoke = SAEHD res 64 liae-ud, batch 1, 1 thread, 2 runs; else every config at batch
    1 and 8 (2 threads, 30 runs, as the command's defaults)."""
    before = torch.get_num_threads()
    threads = 1 if smoke else 2  # smoke: one thread cannot stall on a busy machine's other core
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            configs, runs, batches = (["saehd_64_liae_ud"], 2, (1,)) if smoke else (list(CONFIGS), 30, (1, 8))
            return [r for name in configs for row in bench_config(name, runs, threads, batches, Path(tmp))
                    for r in rows_from(row)]
    finally:
        torch.set_num_threads(before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or process CPU time (for a busy machine, with --threads 1)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {args.threads} threads, {args.clock} clock")
    batches = tuple(int(b) for b in args.batches.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            for row in bench_config(name, args.runs, args.threads, batches, Path(tmp)):
                base = row["torch fp32"]
                cells = ", ".join(f"{k} {row[k]:.1f} ms ({row[k] / base:.2f}x)"
                                  for k in ("torch fp32", "torch bf16", "ORT fp32", "ORT fp16"))
                dfl = DFL_DFM_MS.get(name) if row["batch"] == 1 else None
                vs = f"; ORT fp32 vs DFL's DFM {dfl} ms: {row['ORT fp32'] / dfl:.2f}x" if dfl else ""
                print(f"{name} ({row['params'] / 1e6:.2f} M params) batch {row['batch']}, per face: {cells}{vs}",
                      flush=True)


if __name__ == "__main__":
    main()
