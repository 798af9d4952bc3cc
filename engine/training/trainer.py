"""The training loop of the swap models: set-up, one step, saving, logging and previews (DFL's Trainer).

:class:`Trainer` loads or creates the model folder, draws batches from background workers, runs the step
(forward under autocast, DFL's losses in float32, one flat gradient, DFL's optimizer), and as rank 0 writes
``loss.jsonl`` every iteration, a console line, previews, and checkpoints (every N minutes / iterations, at
target_iter and on Ctrl-C / SIGTERM). Several processes under ``torchrun`` train data-parallel.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from engine.media.image_io import write_image
from engine.models.registry import spec
from engine.training import bf16_weights
from engine.training import checkpoint as ckpt
from engine.training import distributed as dd
from engine.training import precision as prec
from engine.training.console import Console, LossLog
from engine.training.host_memory import keep_freed_memory
from engine.training.loss_plot import loss_plot
from engine.training.optimizers import DFLOptimizer, FlatParams, OptArgs, optimizer_args
from engine.training.precision import Precision, channels_last_wanted, choose_device, choose_precision
from engine.training.preview import render_preview
from engine.training.preview_history import history_path
from engine.training.recipes import Recipe
from engine.training.sample_feed import SampleFeed
from engine.training.samples import BatchFeeder
from engine.training.settings import TrainSettings
from engine.training.tensorboard_log import open_tensorboard
from engine.training.thread_tuner import ThreadTuner, tuner_wanted

if TYPE_CHECKING:
    from engine.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator

log = logging.getLogger("facecomp")


class Trainer:
    """One training run over a model folder (see the module doc)."""

    def __init__(self, settings: TrainSettings, stored: dict[str, Any] | None = None):
        self.s = settings
        self.stored = stored or {}
        self.dist = dd.from_environment()
        self.device = choose_device(settings.device, self.dist.local_rank)
        self.precision: Precision = choose_precision(settings.precision, self.device)
        self.options = dict(settings.options)
        self.kind = settings.kind
        self.res = int(self.options["resolution"])
        self.facts = spec(self.kind).training  # the kind's registered learning rate, optimizer and recipe facts
        self.recipe = Recipe(self.kind, self.options)
        self.iteration = 0
        self.training_seconds = float(self.stored.get("training_seconds", 0.0))
        self.stop_requested = False
        self.channels_last = False
        self.thread_tuner: ThreadTuner | None = None
        self._signals = 0
        self.console: Console | None = None
        self.loss_log: LossLog | None = None
        self.feed: SampleFeed | None = None
        self.gan: UNetPatchDiscriminator | None = None
        self.code_d: CodeDiscriminator | None = None
        self.gan_opt: DFLOptimizer | None = None
        self.code_opt: DFLOptimizer | None = None
        self.graphed: Any = None
        self.shadow: bf16_weights.Bf16Weights | None = None  # the bf16 weights of a CPU bf16 step (bf16_weights)
        self.tb: Any = None
        self.on_ready: Callable[[], None] | None = None  # called once the model and data are set up (rank 0)

    # ---- set-up -----------------------------------------------------------------------------------
    def setup(self) -> None:
        from engine.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator

        dd.init(self.dist, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: cuDNN times its algorithms once, at warm-up
        else:
            keep_freed_memory()  # no page faults for the step's buffers every iteration (host_memory)
        torch.manual_seed(self.s.seed + 1000 * self.dist.rank)
        self.model = spec(self.kind).build(self.options)  # options were completed and checked by the run plan
        folder = self.s.model_dir
        opt_state: dict[str, torch.Tensor] = {}
        disc_state: dict[str, torch.Tensor] = {}
        if self.stored:
            self.iteration = 0 if self.s.reset_iteration else int(self.stored["iteration"])
        if self.stored and self.dist.is_main:  # other ranks receive rank 0's state below
            cid = self.stored.get("checkpoint_id")
            ckpt.load_weights(self.model, ckpt.read_tensors(folder, ckpt.WEIGHTS, cid), folder / ckpt.WEIGHTS)
            opt_state = ckpt.read_tensors(folder, ckpt.EXTRA_FILES["optimizer"], cid, required=False)
            disc_state = ckpt.read_tensors(folder, ckpt.EXTRA_FILES["discriminators"], cid, required=False)
        for part in self.s.reset_parts:
            self.model.reset_part(part)
        self.model.to(self.device).train()
        self.channels_last = channels_last_wanted(self.device, self.s.channels_last)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        trainable = self.model.trainable_parts()
        for name, module in self.model.parts().items():
            module.requires_grad_(name in trainable)
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        self.flat = FlatParams(named, extra=3, channels_last=self.channels_last)  # + losses, stop flag
        o = self.options
        opt_kw = optimizer_args(self.facts, o, self.recipe.pretrain, self.s.seed)
        self.opt = DFLOptimizer(self.flat, name="src_dst_opt", **opt_kw)
        restored = self.opt.load_state_tensors(opt_state) if opt_state else 0
        reset_names = {n for n, _ in named if n.split(".")[0] in self._reset_part_names()}
        self.opt.reset_params(reset_names)
        if self.stored and not restored and opt_state:
            log.info("optimizer state does not fit (other optimizer or parts); starting it fresh")
        d_kw = opt_kw.copy()
        d_kw["seed"] = self.s.seed + 1
        if self.recipe.true_face > 0:
            # DFL sizes it by the inter's output side (Inter.get_out_res: 2 x the dense side, the dense side with t)
            self.code_d = CodeDiscriminator(int(o["ae_dims"]), int(self.model.code_res)).to(self.device)
            self.code_opt = self._disc_optimizer(self.code_d, "code_discriminator", "D_code_opt", disc_state,
                                                 opt_state, d_kw, reset=False)
        if self.recipe.gan_power > 0:
            self.gan = UNetPatchDiscriminator(int(o["gan_patch_size"]), 3, int(o["gan_dims"])).to(self.device)
            self.gan_opt = self._disc_optimizer(self.gan, "gan", "GAN_opt", disc_state, opt_state, d_kw,
                                                reset=self.s.reset_gan)
        self._sync_ranks()
        self.feed = SampleFeed(self)
        self.batch = self.feed.batch
        x = torch.zeros(self.batch, 3, self.res, self.res, device=self.device)  # the shape of a step's input
        self.shadow = bf16_weights.shadow_for(self.model, self.flat, self.device, self.precision, self.dist.world,
                                              lambda: self.model(x, x, **self.recipe.forward_kwargs()))
        self.preview_src, self.preview_dst = self.feed.preview_src, self.feed.preview_dst
        from engine.training.graph_step import GraphedStep, graph_wanted

        self.graphed = GraphedStep(self) if graph_wanted(self) else None
        tune = self.s.tune_threads and tuner_wanted(self.device) and not self.dist.enabled
        self.thread_tuner = ThreadTuner() if tune else None
        if self.dist.is_main:
            self.loss_log = LossLog(folder / "loss.jsonl", self.iteration)
            self.console = Console(self.iteration, int(o.get("target_iter", 0) or 0), quiet=self.s.quiet)
            if self.s.tensorboard:
                self.tb = open_tensorboard(folder, self.iteration, self.device)
            if self.on_ready is not None:
                self.on_ready()

    def _sync_ranks(self) -> None:
        """Every rank starts from rank 0's weights, optimizer state and iteration."""
        if not self.dist.enabled:
            return
        tensors = [self.flat.data, *self.opt.state.values()]
        tensors += [p.data for p in self.model.parameters() if not p.requires_grad]
        tensors += list(self.model.buffers())
        for opt in (self.gan_opt, self.code_opt):
            if opt is not None:
                tensors += [opt.flat.data, *opt.state.values()]
        dd.broadcast_(tensors, self.dist)
        self.iteration = dd.broadcast_int(self.iteration, self.dist, self.device)
        for opt in (self.opt, self.gan_opt, self.code_opt):
            if opt is not None:
                opt.iterations = dd.broadcast_int(opt.iterations, self.dist, self.device)

    def _reset_part_names(self) -> set[str]:
        aliases = getattr(self.model, "RESET_ALIASES", {})
        return {n for part in self.s.reset_parts for n in aliases.get(part, (part,))}

    def _disc_optimizer(self, module: torch.nn.Module, prefix: str, opt_name: str, disc_state: dict[str, Any],
                        opt_state: dict[str, Any], kw: OptArgs, reset: bool) -> DFLOptimizer:
        own = {k[len(prefix) + 1:]: v for k, v in disc_state.items() if k.startswith(prefix + ".")}
        shapes_fit = own and all(k in own and tuple(own[k].shape) == tuple(v.shape)
                                 for k, v in module.state_dict().items())
        if shapes_fit and not reset:
            module.load_state_dict(own)
        elif own:
            log.info("%s options changed: it starts fresh", prefix)
        flat = FlatParams(list(module.named_parameters()))
        opt = DFLOptimizer(flat, name=opt_name, **kw)
        if shapes_fit and not reset:
            opt.load_state_tensors(opt_state)
        return opt

    # ---- one step ---------------------------------------------------------------------------------
    def next_batch(self) -> dict[str, dict[str, torch.Tensor]]:
        """DFL's batch for this iteration (engine.training.sample_feed)."""
        assert self.feed is not None  # set up
        batch = self.feed.next(self.iteration)
        if self.channels_last:
            return {side: {k: v.contiguous(memory_format=torch.channels_last) for k, v in d.items()}
                    for side, d in batch.items()}
        return batch

    @property
    def feeder(self) -> BatchFeeder | None:
        """The background batch threads (None before set-up)."""
        return self.feed.feeder if self.feed is not None else None

    def step(self, batch: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        """Forward, DFL's losses, backward, all-reduce, optimizer updates (G, then D_code, then GAN)."""
        if self.graphed is not None:
            return self.graphed(batch)
        p = self.precision
        self.flat.zero_grad()
        if self.gan is not None:
            self.gan.requires_grad_(False)
        if self.code_d is not None:
            self.code_d.requires_grad_(False)
        with self.shadow.computing() if self.shadow is not None else contextlib.nullcontext():
            with torch.autocast(self.device.type, dtype=p.dtype, enabled=p.autocast):
                out = self.model(batch["src"]["warped"], batch["dst"]["warped"], **self.recipe.forward_kwargs())
            with torch.autocast(self.device.type, dtype=p.dtype, enabled=p.autocast):
                terms = self.recipe.generator(out, batch, self.code_d)
                g_loss = terms.g_loss
                if self.gan is not None:
                    g_loss = g_loss + self.recipe.gan_generator_loss(self.gan, terms, out, batch)
            p.backward(g_loss)
        extra = self.flat.extra
        extra[0] = terms.src.detach().float().mean()
        extra[1] = terms.dst.detach().float().mean()
        extra[2] = 1.0 if self.stop_requested else 0.0
        dd.average_(self.flat.grad_all, self.dist)
        values = extra.tolist()  # one host synchronisation for the losses and the stop flag
        stats = {"loss_src": values[0], "loss_dst": values[1], "stop": values[2] > 0}
        if p.step_ok(self.flat.step_grad):
            self.opt.step(grad_scale=p.unscale)
            if self.shadow is not None:
                self.shadow.updated()
        code_d, gan = self.code_d, self.gan
        if code_d is not None and terms.codes is not None:
            assert self.code_opt is not None  # set up with code_d
            stats["loss_code_d"] = self._disc_step(code_d, self.code_opt, lambda: self.recipe.code_discriminator_loss(
                code_d, terms))
        if gan is not None:
            assert self.gan_opt is not None  # set up with gan
            stats["loss_gan_d"] = self._disc_step(gan, self.gan_opt, lambda: self.recipe.gan_discriminator_loss(
                gan, terms))
        return stats

    def _disc_step(self, module: torch.nn.Module, opt: DFLOptimizer, loss_fn: Callable[[], torch.Tensor]) -> float:
        module.requires_grad_(True)
        opt.flat.zero_grad()
        p = self.precision
        with torch.autocast(self.device.type, dtype=p.dtype, enabled=p.autocast):
            loss = loss_fn()
        p.backward(loss, update=False)
        dd.average_(opt.flat.grad_all, self.dist)
        if p.step_ok(opt.flat.grad, update=False):
            opt.step(grad_scale=p.unscale)
        return float(loss.detach()) / max(1, self.batch)

    # ---- saving and outputs -----------------------------------------------------------------------
    def extra_state(self) -> dict[str, dict[str, torch.Tensor]]:
        opt = self.opt.state_tensors()
        disc: dict[str, torch.Tensor] = {}
        for prefix, module, o in (("gan", self.gan, self.gan_opt), ("code_discriminator", self.code_d, self.code_opt)):
            if module is not None and o is not None:
                opt.update(o.state_tensors())
                disc.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
        return {"optimizer": opt, "discriminators": disc}

    def save(self) -> None:
        if not self.dist.is_main:
            return
        t = time.perf_counter()
        meta = {"options": self.options, "training_seconds": round(self.training_seconds, 3),
                "training": {"src": str(self.s.src), "dst": str(self.s.dst)}}
        meta.update(self.s.extra_meta)
        if self.loss_log is not None:
            meta["loss"] = self.loss_log.summary()
            self.loss_log.flush()
        if self.tb is not None:
            self.tb.flush(self.iteration, self.opt.current_lr())
        ckpt.save_checkpoint(self.s.model_dir, self.model, self.iteration, self.extra_state(), meta)
        self.write_preview()
        log.debug("saved at iteration %d in %.2f s", self.iteration, time.perf_counter() - t)

    def write_preview(self, history: bool = False) -> None:
        if not self.dist.is_main:
            return
        image = render_preview(self.model, self.preview_src, self.preview_dst,
                               (self.device.type, self.precision.dtype) if self.precision.autocast else None)
        folder = self.s.model_dir
        write_image(folder / "preview.png", image)
        if history:
            write_image(history_path(folder, self.iteration), image)
        if self.tb is not None:
            self.tb.image(self.iteration, image)
        if self.loss_log is not None:
            write_image(folder / "loss.png", loss_plot(self.loss_log.history))

    # ---- the loop ---------------------------------------------------------------------------------
    def on_signal(self, signum: int, frame: Any) -> None:
        """SIGINT / SIGTERM: stop after this step (and save); a second one interrupts at once."""
        self._signals += 1
        self.stop_requested = True
        if self._signals > 1:
            raise KeyboardInterrupt

    def run(self) -> dict[str, Any]:
        """Train until target_iter, max_iterations or a signal; returns a summary (iteration, ms, losses).
        On a CPU denormals flush to zero for the run only (precision.denormals_flushed)."""
        from engine.training.train_loop import TrainLoop

        with prec.denormals_flushed(self.device):
            return TrainLoop(self).run()

    def close_run(self) -> None:
        """Stop the sample threads and the thread tuner; close the console, loss log and TensorBoard writer."""
        for part in (self.feed, self.thread_tuner, self.console, self.loss_log, self.tb):
            if part is not None:
                part.close()
