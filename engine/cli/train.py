"""`facecomp train`: train a SAEHD, AMP or Quick96 swap model on two facesets (DeepFaceLab's trainer).

    facecomp train --model workspace/model --kind saehd --src data_src/aligned --dst data_dst/aligned
    facecomp train --model workspace/model --resume [--set random_warp=false] [--reset inter]
    facecomp train --model m --kind saehd --resolution 96 --archi df-ud --summary --json
    facecomp train --model workspace/model --schedule dfl-rtt      (DFL's long-run workflow as phases)
    facecomp train --model workspace/model --status                (iteration, phase, next change, ETA)
    facecomp train --model workspace/model --timelapse progress.mp4
    torchrun --nproc_per_node 2 -m engine train --model m --resume      (data-parallel, one process per device)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.options import add_options, flag_values
from engine.errors import FacecompError
from engine.quality.options_box import options_box, training_facts
from engine.training.folder_lock import writer_lock
from engine.training.settings import PIPELINES

if TYPE_CHECKING:
    from engine.training.run_plan import RunPlan

log = logging.getLogger("facecomp")


def _kind_in(argv: list[str] | None) -> str | None:
    """The ``--kind`` given on the command line, for kind-specific help (None when absent or unknown)."""
    from engine.models import MODEL_KINDS

    argv = argv or []
    for i, item in enumerate(argv):
        value = argv[i + 1] if item == "--kind" and i + 1 < len(argv) else item.partition("=")[2]
        if (item == "--kind" or item.startswith("--kind=")) and value in MODEL_KINDS:
            return value
    return None


def _per_kind_defaults() -> dict[str, str]:
    """Help text of each option's default per model kind when the kinds differ (``saehd 128, amp 224 ...``)."""
    from engine.models import MODEL_KINDS, model_options

    table = {k: {o.name: o for o in model_options(k)} for k in MODEL_KINDS}
    out = {}
    for name in {n for t in table.values() for n in t}:
        values = {k: t[name].default for k, t in table.items() if name in t}
        if len(set(map(str, values.values()))) > 1 or len(values) < len(MODEL_KINDS):
            out[name] = ", ".join(f"{k} {v}" for k, v in values.items())
    return out


def add_arguments(p: argparse.ArgumentParser, argv: list[str] | None = None) -> None:
    from engine.models import MODEL_KINDS, model_options
    from engine.training.precision import DEVICES, PRECISIONS
    from engine.training.run_plan import all_options

    p.add_argument("--model", type=Path, required=True, help="model folder (created if new, resumed if it holds one)")
    p.add_argument("--kind", choices=MODEL_KINDS, help="model kind of a new model: saehd, amp, quick96")
    p.add_argument("--src", help="src faceset folder (the face to put in); stored in the model for --resume")
    p.add_argument("--dst", help="dst faceset folder (the plate's face); with --pretrain defaults to --src")
    p.add_argument("--config", type=Path, help="TOML/JSON file of options (DFL names: ae_dims = 256)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="change an option of the model, as DFL allows (repeatable)")
    p.add_argument("--from", dest="from_model", type=Path, metavar="PRETRAINED",
                   help="start the new --model from a copy of a pretrained or RTT model folder (left unchanged); "
                        "pretrain is switched off unless --pretrain is given")
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
                   help="compute threads (torch.set_num_threads), kept as given; 0 = one per core, and on a CPU "
                        "the faster of all or half of them is kept as the run goes (a busy machine)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC convolution weights and inputs (default: FACECOMP_CHANNELS_LAST, else off: slower "
                        "on the CPUs measured, docs/training.md)")
    p.add_argument("--workers", type=int, default=0,
                   help="sample-generator threads (0 = auto: 1 on CPU, up to 4 feeding a GPU)")
    p.add_argument("--sample-pipeline", choices=PIPELINES, default="auto",
                   help="where samples are augmented: on the training device (uint8 faces sent, warped there) or "
                        "on the host; auto: device on CUDA, host on CPU (ct_mode always on the host)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample generator")
    p.add_argument("--quiet", action="store_true", help="no per-iteration console line")
    p.add_argument("--schedule", metavar="FILE|PRESET",
                   help="phases of option changes and resets (TOML [[phase]] tables; presets: dfl-rtt, quick-test; "
                        "none: drop the model's schedule); stored in the model and resumed with it")
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                   help="write TensorBoard event files to model/tensorboard (scalars, previews)")
    p.add_argument("--status", action="store_true",
                   help="print the model's iteration, speed, schedule phase, next change and ETA, and exit")
    p.add_argument("--timelapse", type=Path, metavar="OUT",
                   help="write the preview history as a video (.mp4) or a contact sheet (.png/.jpg) and exit")
    p.add_argument("--timelapse-fps", type=float, default=12.0, help="frame rate of the --timelapse video")
    kind = _kind_in(argv)
    if kind:
        add_options(p, model_options(kind), f"{kind} model options (DeepFaceLab's names; stored in the model folder)")
    else:
        add_options(p, all_options(), "model options (DeepFaceLab's names; stored in the model folder; "
                    "train --kind KIND --help shows one kind's)", defaults=_per_kind_defaults())


def plan_from_args(args: argparse.Namespace, stored: dict | None, extra_sets: Sequence[str] = (),
                   extra_reset: Sequence[str] = ()) -> RunPlan:
    """The run plan of parsed ``train`` arguments (plain values for engine.training.run_plan.plan); a schedule
    action's ``extra_sets`` come first (the user's own --set wins) and its ``extra_reset`` parts are added."""
    from engine.training.run_plan import all_options, plan

    reset = list(args.reset or [])
    return plan(args.model.expanduser().resolve(), stored, kind=args.kind, flags=flag_values(args, all_options()),
                config=args.config, sets=[*extra_sets, *(args.set or [])], src=args.src, dst=args.dst,
                reset=reset + [r for r in extra_reset if r not in reset])


def _next_round_args(args: argparse.Namespace) -> argparse.Namespace:
    """The arguments of a scheduled run's following round: the model folder's own state only (the flags were
    applied by the first round)."""
    from engine.training.run_plan import all_options

    nxt = argparse.Namespace(**vars(args))
    for opt in all_options():
        setattr(nxt, opt.name, None)
    nxt.config = nxt.set = nxt.reset = nxt.kind = nxt.src = nxt.dst = nxt.schedule = None
    nxt.resume = True
    return nxt


def _print_summary(kind: str, options: dict, as_json: bool) -> None:
    from engine.models import build_model, parameter_summary

    summary = parameter_summary(build_model(kind, options))
    if as_json:
        print(json.dumps(summary))
        return
    for name, count in summary["parts"].items():
        print(f"{name:<20} {count:>14,}")
    print(f"{'total':<20} {summary['total']:>14,}  ({summary['total'] / 1e6:.2f} M)")


def _watch(args: argparse.Namespace, folder: Path) -> int:
    """--status / --timelapse: read the model folder (safe while a trainer runs), print or write, exit."""
    if args.status:
        from engine.training.watch import status_lines

        print("\n".join(status_lines(folder)))
        return 0
    from engine.training.preview_history import write_timelapse

    count = write_timelapse(folder, args.timelapse.expanduser(), args.timelapse_fps)
    log.info("timelapse of %d previews -> %s", count, args.timelapse)
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.training import distributed as dd
    from engine.training.precision import choose_device
    from engine.training.run_plan import read_existing

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    info = dd.from_environment()
    folder = args.model.expanduser().resolve()
    if args.status or args.timelapse:
        return _watch(args, folder)
    if args.summary:
        stored = read_existing(folder, finish_saves=False) if folder.exists() and not args.kind else None
        p = plan_from_args(args, stored)
        for note in p.notes:
            log.warning("note: %s", note)
        _print_summary(p.kind, p.options, args.json)
        return 0
    device = choose_device(args.device, info.local_rank)
    lock = writer_lock(folder, "train") if info.is_main else contextlib.nullcontext()
    with lock:
        result, p = _train(args, folder, info, device)
    if info.is_main and result is not None:
        log.info("%s at iteration %d (%d this run, median %.0f ms/iter, %s on %s, %d threads) -> %s",
                 p.kind, result["iteration"], result["iterations_run"], result["median_ms"], result["precision"],
                 result["device"], torch.get_num_threads(), folder)
    return 0


def _train(args: argparse.Namespace, folder: Path, info: Any, device: Any) -> tuple[dict[str, Any] | None, Any]:
    """One training run on ``folder``, in rounds when a schedule is due (rank 0 holds the writer lock)."""
    from engine.faces.faceset import require_faces
    from engine.training import distributed as dd
    from engine.training.pretrained import provenance
    from engine.training.run_plan import read_existing
    from engine.training.schedule_run import next_round, plan_round, schedule_hooks
    from engine.training.settings import TrainSettings
    from engine.training.trainer import Trainer

    dd.init(info, device)
    result: dict | None = None
    p = None
    if args.from_model:
        args.resume, args.pretrain = True, bool(args.pretrain)
    try:
        if args.from_model and info.is_main:
            from engine.training.pretrained import start_from

            base = start_from(args.from_model, folder)
            log.info("new model from %s (%s at iteration %d)", args.from_model, base["kind"], base["iteration"])
        round_args = args
        while True:
            stored = read_existing(folder) if info.is_main else None
            stored = dd.broadcast_json(stored, info, device)
            if round_args.resume and not stored:
                raise FacecompError("no model to resume here (model.json missing)", folder)
            rp = plan_round(stored, folder, round_args.schedule, functools.partial(plan_from_args, round_args, stored))
            p = rp.plan
            if rp.schedule is not None and rp.schedule_over:
                log.info("schedule %s finished at iteration %s; --schedule none trains on without it",
                         rp.schedule.name, rp.schedule.end())
                break
            if p.src is None or p.dst is None:
                raise FacecompError("training needs --src and --dst faceset folders (stored in the model for --resume)")
            for side in (p.src, p.dst):
                if not side.is_dir():
                    raise FacecompError("faceset folder does not exist", side)
                require_faces(side)
            if info.is_main:
                for note in p.notes:
                    log.warning("note: %s", note)
                folder.mkdir(parents=True, exist_ok=True)
                if stored:
                    log.info("%s model at iteration %d%s", p.kind, stored["iteration"],
                             "".join(f"; {k}: {a} -> {b}" for k, (a, b) in p.changed.items()))
            settings = TrainSettings(
                model_dir=folder, kind=p.kind, options=p.options, src=p.src, dst=p.dst, device=args.device,
                precision=args.precision, save_every_min=args.save_every_min, save_every_iter=args.save_every_iter,
                preview_every=args.preview_every, max_iterations=args.iterations, workers=args.workers,
                pipeline=args.sample_pipeline, seed=args.seed, reset_parts=p.reset_parts,
                reset_iteration=p.reset_iteration, reset_gan=p.reset_gan,
                quiet=args.quiet, save_at_start=bool(p.changed or p.reset_parts), tensorboard=args.tensorboard,
                channels_last=args.channels_last, tune_threads=args.threads <= 0, extra_meta=provenance(stored))
            schedule_hooks(settings, rp)
            trainer = Trainer(settings, stored)
            if info.is_main:
                box = options_box(training_facts(folder, p.kind, p.options, stored))
                trainer.on_ready = lambda box=box: log.info("%s", box)  # once the model loaded: errors stay short
                target = int(p.options.get("target_iter", 0) or 0)
                log.info("training %s %s at %d px on %s / %s%s; Ctrl-C saves and stops", p.kind,
                         p.options.get("archi", ""), p.options["resolution"], p.src, p.dst,
                         f"; target iteration {target}" if target else "")
            result = trainer.run()
            if not next_round(settings, result):
                break
            args.iterations -= result["iterations_run"] if args.iterations else 0
            round_args = _next_round_args(args)
    finally:
        dd.shutdown()
    return result, p
