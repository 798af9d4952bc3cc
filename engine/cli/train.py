"""`facecomp train`: train a SAEHD, AMP or Quick96 swap model on two facesets (DeepFaceLab's trainer).

    facecomp train --model workspace/model --kind saehd --src data_src/aligned --dst data_dst/aligned
    facecomp train --model workspace/model --resume [--set random_warp=false] [--reset inter]
    facecomp train --model m --kind saehd --resolution 96 --archi df-ud --summary --json
    torchrun --nproc_per_node 2 -m engine train --model m --resume      (data-parallel, one process per device)
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from engine.cli.options import add_options
from engine.errors import FacecompError

log = logging.getLogger("facecomp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.models import MODEL_KINDS
    from engine.training.precision import DEVICES, PRECISIONS
    from engine.training.session import all_options

    p.add_argument("--model", type=Path, required=True, help="model folder (created if new, resumed if it holds one)")
    p.add_argument("--kind", choices=MODEL_KINDS, help="model kind of a new model: saehd, amp, quick96")
    p.add_argument("--src", help="src faceset folder (the face to put in); stored in the model for --resume")
    p.add_argument("--dst", help="dst faceset folder (the plate's face); with --pretrain defaults to --src")
    p.add_argument("--config", type=Path, help="TOML/JSON file of options (DFL names: ae_dims = 256)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="change an option of the model, as DFL allows (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the model in --model with its stored options")
    p.add_argument("--reset", action="append", metavar="PART",
                   help="re-initialise a part and keep the rest: inter (DFL's deleting inter_AB.npy), inter_B, "
                        "encoder, decoder ... (repeatable)")
    p.add_argument("--summary", action="store_true", help="print the parameter count per part and exit")
    p.add_argument("--json", action="store_true", help="with --summary: print it as JSON")
    p.add_argument("--save-every-min", type=float, default=25.0, help="save a checkpoint every N minutes")
    p.add_argument("--save-every-iter", type=int, default=0, help="also save every N iterations (0 = off)")
    p.add_argument("--preview-every", type=int, default=100, help="refresh preview.png every N iterations")
    p.add_argument("--iterations", type=int, default=0,
                   help="train N iterations in this run, then save and stop (0 = until target_iter or Ctrl-C)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 autocast on CUDA and on CPUs with AVX512-BF16/AMX, else fp32")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA when present")
    p.add_argument("--threads", type=int, default=0,
                   help="compute threads (torch.set_num_threads; 0 = PyTorch's default, one per core)")
    p.add_argument("--workers", type=int, default=0,
                   help="sample-generator threads (0 = auto: 1 on CPU, up to 4 feeding a GPU)")
    p.add_argument("--sample-pipeline", choices=("auto", "device", "host"), default="auto",
                   help="where samples are augmented: on the training device (uint8 faces sent, warped there) or "
                        "on the host; auto: device on CUDA, host on CPU (ct_mode always on the host)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample generator")
    p.add_argument("--quiet", action="store_true", help="no per-iteration console line")
    add_options(p, all_options(), "model options (DeepFaceLab's names; stored in the model folder)")


def _print_summary(kind: str, options: dict, as_json: bool) -> None:
    from engine.models import build_model, parameter_summary

    summary = parameter_summary(build_model(kind, options))
    if as_json:
        print(json.dumps(summary))
        return
    for name, count in summary["parts"].items():
        print(f"{name:<20} {count:>14,}")
    print(f"{'total':<20} {summary['total']:>14,}  ({summary['total'] / 1e6:.2f} M)")


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.training import distributed as dd
    from engine.training.precision import choose_device
    from engine.training.session import plan, read_existing
    from engine.training.trainer import Trainer, TrainSettings

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    info = dd.from_environment()
    folder = args.model.expanduser().resolve()
    if args.summary:
        stored = read_existing(folder) if folder.exists() and not args.kind else None
        p = plan(args, stored)
        _print_summary(p.kind, p.options, args.json)
        return 0
    device = choose_device(args.device, info.local_rank)
    dd.init(info, device)
    try:
        stored = read_existing(folder) if info.is_main else None
        stored = dd.broadcast_json(stored, info, device)
        if args.resume and not stored:
            raise FacecompError("no model to resume here (model.json missing)", folder)
        p = plan(args, stored)
        if p.src is None or p.dst is None:
            raise FacecompError("training needs --src and --dst faceset folders (stored in the model for --resume)")
        for side in (p.src, p.dst):
            if not side.is_dir():
                raise FacecompError("faceset folder does not exist", side)
        if info.is_main:
            folder.mkdir(parents=True, exist_ok=True)
            if stored:
                log.info("%s model at iteration %d%s", p.kind, stored["iteration"],
                         "".join(f"; {k}: {a} -> {b}" for k, (a, b) in p.changed.items()))
        settings = TrainSettings(
            model_dir=folder, kind=p.kind, options=p.options, src=p.src, dst=p.dst, device=args.device,
            precision=args.precision, save_every_min=args.save_every_min, save_every_iter=args.save_every_iter,
            preview_every=args.preview_every, max_iterations=args.iterations, workers=args.workers, seed=args.seed,
            pipeline=args.sample_pipeline,
            reset_parts=p.reset_parts, reset_iteration=p.reset_iteration, reset_gan=p.reset_gan, quiet=args.quiet,
            save_at_start=bool(p.changed or p.reset_parts))
        trainer = Trainer(settings, stored)
        if info.is_main:
            target = int(p.options.get("target_iter", 0) or 0)
            log.info("training %s %s at %d px on %s / %s%s; Ctrl-C saves and stops", p.kind,
                     p.options.get("archi", ""), p.options["resolution"], p.src, p.dst,
                     f"; target iteration {target}" if target else "")
        result = trainer.run()
    finally:
        dd.shutdown()
    if info.is_main:
        log.info("%s at iteration %d (%d this run, median %.0f ms/iter, %s on %s, %d threads) -> %s",
                 p.kind, result["iteration"], result["iterations_run"], result["median_ms"], result["precision"],
                 result["device"], torch.get_num_threads(), folder)
    return 0
