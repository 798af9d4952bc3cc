"""Checks of the CUDA-only paths that CI cannot run (it has no GPU), run first by bench/train_step_gpu.sh:

  loop   the swap trainer's loop with the CUDA graph and its deferred stats (engine.training.train_loop): every
         iteration's losses logged once, in order and finite; the save holds the weights of the iteration it
         names; a resumed run continues the log
  xloop  XSeg's loop on the GPU (each loss read a step late): 12 iterations, every loss finite and reported once,
         the folder saved at iteration 12
  xseg   XSeg's augmentation chain (engine.training.xseg_device_augment) on the GPU against the same chain on
         the CPU device for the same draws: the mask equal on >= 99.8 % of pixels, the image within 1/255

    PYTHONPATH=$PWD python3 bench/gpu_checks.py --faces faces [--device cpu]   # cpu: a dry run of the checks
One line per check (ok or FAIL, with its figures); exit status 1 when one failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "loss.jsonl").read_text().splitlines()]


def check_loop(faces: Path, device: str) -> tuple[bool, str]:
    """12 iterations (saves at 6 and 12, previews every 5), then 4 more resumed."""
    from engine.models import normalize_options
    from engine.training import checkpoint as ckpt
    from engine.training.trainer import Trainer, TrainSettings

    opts = normalize_options("saehd", {"resolution": 128, "archi": "df-ud", "batch_size": 8, "face_type": "wf"})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings: dict[str, Any] = dict(model_dir=folder, kind="saehd", options=opts, src=faces / "src",
                                        dst=faces / "dst", device=device, precision="auto", preview_every=5,
                                        save_every_iter=6, quiet=True)
        t = Trainer(TrainSettings(**settings, max_iterations=12))
        first = t.run()
        graphed = t.graphed is not None and t.graphed.graph is not None
        saved = ckpt.read_tensors(folder, ckpt.WEIGHTS, None)
        live = {k: v.detach().float().cpu() for k, v in t.model.state_dict().items()}
        same = all(torch.equal(saved[k].float(), live[k]) for k in saved)
        again = Trainer(TrainSettings(**settings, max_iterations=4), ckpt.read_model_json(folder)).run()
        rows = _rows(folder)
    its = [r["iteration"] for r in rows]
    finite = all(np.isfinite([r["loss_src"], r["loss_dst"]]).all() for r in rows)
    ok = (its == list(range(1, 17)) and finite and same and first["iteration"] == 12
          and again["iteration"] == 16)
    return ok, (f"graph {'captured' if graphed else 'not captured'}; log iterations {its[0]}..{its[-1]} "
                f"({len(its)} rows, finite {finite}); saved weights = live weights: {same}; median "
                f"{first['median_ms']:.2f} ms/iter, resumed {again['median_ms']:.2f}")


def check_xseg_loop(faces: Path, device: str) -> tuple[bool, str]:
    from engine.training.xseg_trainer import plan_options, train_xseg
    from engine.xseg.checkpoint import read_meta

    seen: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        # bf16 is emulated on many CPUs: a dry run in fp32
        options = plan_options(tmp, {"auto": True, "batch_size": 8, "bf16": device == "cuda"})
        report = train_xseg(Path(tmp), [faces / "dst"], options, target_iter=12, preview_every=5, seed=1,
                            device=device, on_iter=lambda it, loss: seen.append(it))
        saved = int(read_meta(tmp)["iteration"])
    finite = bool(np.isfinite(report.losses).all())
    ok = seen == list(range(1, 13)) and len(report.losses) == 12 and finite and saved == 12
    return ok, f"iterations reported {seen[0]}..{seen[-1]} ({len(seen)}), losses finite {finite}, saved at {saved}"


def check_xseg(faces: Path, device: str, seeds: int = 10, res: int = 256) -> tuple[bool, str]:
    from engine.training import xseg_augment as xa
    from engine.training.xseg_device_augment import HOST_KEYS, augment_batch, pack_draws
    from engine.training.xseg_samples import XSegFaces
    from engine.xseg.data import scan_facesets, select_training

    samples = select_training(scan_facesets([faces / "dst"]), auto=True)
    loader = XSegFaces(res, "whole_face")
    equal, mad = [], []
    for seed in range(seeds):
        face = loader.load_uint8(samples[seed % len(samples)])
        bg = loader.load_uint8(samples[(seed * 7 + 3) % len(samples)])
        packed = pack_draws([xa.draw_chain(np.random.default_rng(seed), res, True)])
        host = {k: packed.pop(k) for k in HOST_KEYS}
        out = []
        for dev in ("cpu", device):
            img, mask = augment_batch(torch.from_numpy(np.dstack(face)[None]).to(dev),
                                      torch.from_numpy(np.dstack(bg)[None]).to(dev),
                                      {k: torch.from_numpy(v).to(dev) for k, v in packed.items()}, host)
            out.append((img.cpu(), mask.cpu()))
        (ci, cm), (gi, gm) = out
        equal.append(float((cm == gm).float().mean()))
        mad.append(float((ci - gi).abs().mean()))
    ok = min(equal) >= 0.998 and max(mad) <= 1 / 255
    return ok, (f"{seeds} seeds at {res} px: mask equal on {np.mean(equal):.5f} (min {min(equal):.5f}); image "
                f"mean abs {np.mean(mad) * 255:.3f}/255 (max {max(mad) * 255:.3f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, required=True, help="a folder with src/ and dst/ aligned facesets")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU (dry run)"
    print(f"{name}; torch {torch.__version__}", flush=True)
    failed = 0
    for label, check in (("loop", check_loop), ("xloop", check_xseg_loop), ("xseg", check_xseg)):
        try:
            ok, figures = check(args.faces, args.device)
        except Exception as exc:  # noqa: BLE001 - report and run the next check
            ok, figures = False, f"{type(exc).__name__}: {exc}"[:600]
        failed += not ok
        print(f"{label:<5} {'ok' if ok else 'FAIL'}  {figures}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
