"""The bf16 weight shadow of CPU bf16 training: the same numbers as autocast's casts, used only where it can be."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from engine.models import normalize_options
from engine.training.trainer import Trainer, TrainSettings

TINY = {"resolution": 64, "ae_dims": 32, "e_dims": 16, "d_dims": 16, "d_mask_dims": 16, "batch_size": 2,
        "face_type": "wf"}


def _trainer(tmp: Path, src: Path, dst: Path, monkeypatch: pytest.MonkeyPatch, shadow: bool, **opts: object) -> Trainer:
    monkeypatch.setenv("FACECOMP_BF16_WEIGHTS", "1" if shadow else "0")
    options = normalize_options("saehd", {**TINY, **opts})
    t = Trainer(TrainSettings(model_dir=tmp, kind="saehd", options=options, src=src, dst=dst, device="cpu",
                              precision="bf16", preview_every=0, quiet=True, seed=3))
    t.setup()
    return t


@pytest.mark.parametrize(("archi", "fused"), [("liae-ud", True), ("df-ud", False)])
def test_shadow_steps_equal_autocast_steps(src_faces, dst_faces, tmp_path, monkeypatch, archi, fused):
    """Three steps on one batch from the same weights: weights, optimizer state and losses equal bit for bit
    (``fused``: the compiled update long runs use, which then writes the shadow; else the eager update)."""
    monkeypatch.setenv("FACECOMP_COMPILE_OPTIMIZER", "1" if fused else "0")  # the tiny model is under its size
    base = _trainer(tmp_path / "base", src_faces, dst_faces, monkeypatch, False, archi=archi)
    shadowed = _trainer(tmp_path / "shadow", src_faces, dst_faces, monkeypatch, True, archi=archi)
    try:
        assert base.shadow is None and shadowed.shadow is not None
        if fused:
            for t in (base, shadowed):
                compiled = t.opt.compile_now()
                if compiled is None or not compiled.wait():
                    pytest.skip("no C++ compiler for the fused update")
        shadowed.flat.data.copy_(base.flat.data)  # the same start (a load: the shadow follows it)
        batch = base.next_batch()
        for _ in range(3):
            assert base.step(batch) == shadowed.step(batch)
        assert torch.equal(base.flat.data, shadowed.flat.data)
        for slot in base.opt.state:
            assert torch.equal(base.opt.state[slot], shadowed.opt.state[slot])
        assert torch.equal(shadowed.flat.shadow, shadowed.flat.data.bfloat16())  # written by the update
        assert all(p.dtype == torch.float32 for p in shadowed.model.parameters())  # outside the step: float32
    finally:
        base.feed.close()
        shadowed.feed.close()


def test_a_part_reset_between_steps_reaches_the_shadow(src_faces, dst_faces, tmp_path, monkeypatch):
    """A schedule's `reset = "inter"` re-initialises float32 weights in place between steps: the next step
    computes with them (the shadow is refreshed from the flat buffer's version counter)."""
    t = _trainer(tmp_path, src_faces, dst_faces, monkeypatch, True)
    try:
        t.step(t.next_batch())
        before = t.flat.shadow.clone()
        t.model.reset_part("inter_AB")
        with t.shadow.computing():
            assert all(p.dtype == torch.bfloat16 for p in t.flat.params)
            assert torch.equal(t.flat.shadow, t.flat.data.bfloat16()) and not torch.equal(t.flat.shadow, before)
        assert all(p.dtype == torch.float32 for p in t.flat.params)
    finally:
        t.feed.close()


def test_no_shadow_where_a_weight_is_used_twice_or_off_cpu_bf16(src_faces, dst_faces, tmp_path, monkeypatch):
    """face_style_power runs the src decoder twice in a step (its two gradients must sum in float32)."""
    t = _trainer(tmp_path, src_faces, dst_faces, monkeypatch, True, face_style_power=1.0)
    try:
        assert t.shadow is None and t.flat.shadow is None
    finally:
        t.feed.close()
    from engine.training.bf16_weights import wanted

    assert not wanted(torch.device("cpu"), torch.float32, 1) and not wanted(torch.device("cpu"), torch.bfloat16, 2)


def test_used_once_counts_every_call_a_weight_goes_into():
    """A weight joined into one conv (blocks.joined_convs) is used once; one also passed to a plain elementwise
    op (float32 under autocast, bf16 with the shadow) or run twice is not."""
    from engine.models.blocks import conv2d, joined_convs
    from engine.training.bf16_weights import used_once
    from engine.training.optimizers import FlatParams

    convs = nn.ModuleList([conv2d(4, 3, 1), conv2d(4, 3, 3)])
    flat = FlatParams(convs.named_parameters())
    x = torch.randn(2, 4, 8, 8)
    assert used_once(convs, flat, lambda: joined_convs(list(convs), x))
    assert used_once(convs, flat, lambda: [c(x) for c in convs])
    assert not used_once(convs, flat, lambda: [c(x) for c in (*convs, convs[0])])
    assert not used_once(convs, flat, lambda: joined_convs(list(convs), x) * convs[1].bias.sum())
