"""The channels_last switch of the training step (TrainSettings.channels_last / FACECOMP_CHANNELS_LAST): the
flat parameter buffer keeps convolution weights NHWC, the step learns what the NCHW step learns, the optimizer
state and checkpoints keep their format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import FacecompError
from engine.training.optimizers import DFLOptimizer, FlatParams
from engine.training.precision import channels_last_wanted


def test_flat_params_channels_last_views() -> None:
    """4-D weights become channels_last views of the flat buffer (their gradients too); values are kept."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 2))
    conv = net[0]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flat = FlatParams(list(net.named_parameters()), channels_last=True)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert conv.weight.grad is not None and conv.weight.grad.is_contiguous(memory_format=torch.channels_last)
    assert conv.weight.data_ptr() == flat.data.data_ptr()  # the first parameter's view starts the buffer
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    flat.zero_grad()
    net(torch.rand(2, 3, 8, 8)).sum().backward()
    assert float(flat.grad.abs().sum()) > 0  # backward accumulated into the flat gradient


def test_optimizer_state_round_trip_channels_last() -> None:
    """state_tensors writes contiguous per-parameter slots whatever the layout; they load into either layout."""
    torch.manual_seed(1)
    convs = [torch.nn.Conv2d(3, 4, 3) for _ in range(2)]
    convs[1].load_state_dict(convs[0].state_dict())
    opts = []
    for conv, cl in zip(convs, (True, False), strict=True):
        opt = DFLOptimizer(FlatParams(list(conv.named_parameters()), channels_last=cl), method="adabelief")
        opt.flat.zero_grad()
        conv(torch.linspace(0, 1, 2 * 3 * 6 * 6).view(2, 3, 6, 6)).square().sum().backward()
        opt.step()
        opts.append(opt)
    a, b = (o.state_tensors() for o in opts)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].is_contiguous() and torch.allclose(a[k], b[k], atol=1e-6), k
    fresh = DFLOptimizer(FlatParams(list(torch.nn.Conv2d(3, 4, 3).named_parameters()), channels_last=True))
    assert fresh.load_state_tensors(b) == 2
    for k, v in fresh.state_tensors().items():
        assert torch.equal(v, b[k]), k


def test_switch_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.delenv("FACECOMP_CHANNELS_LAST", raising=False)
    assert channels_last_wanted(cpu) is False  # measured slower on the CPU (docs/training.md)
    assert channels_last_wanted(cpu, True) is True
    monkeypatch.setenv("FACECOMP_CHANNELS_LAST", "1")
    assert channels_last_wanted(cpu) is True and channels_last_wanted(cpu, False) is False
    monkeypatch.setenv("FACECOMP_CHANNELS_LAST", "sometimes")
    with pytest.raises(FacecompError, match="FACECOMP_CHANNELS_LAST"):
        channels_last_wanted(cpu)


def test_trainer_step_channels_last_matches(src_faces: Path, dst_faces: Path, tmp_path: Path) -> None:
    """One SAEHD step with channels_last weights and inputs updates the weights as the NCHW step does (fp32)."""
    from engine.models import normalize_options
    from engine.training.samples import IndexSampler, make_batch
    from engine.training.trainer import Trainer, TrainSettings

    opts = normalize_options("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 32, "e_dims": 16,
                                       "d_dims": 16, "d_mask_dims": 16, "batch_size": 2, "face_type": "wf"})
    trainers = []
    for cl in (False, True):
        t = Trainer(TrainSettings(model_dir=tmp_path / str(cl), kind="saehd", options=opts, src=src_faces,
                                  dst=dst_faces, device="cpu", precision="fp32", preview_every=0, quiet=True,
                                  channels_last=cl))
        t.setup()
        t.feed.close()
        trainers.append(t)
    nchw, nhwc = trainers
    assert nhwc.channels_last and not nchw.channels_last
    weights = [p for p in nhwc.model.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    rng = np.random.default_rng(5)
    faceset = nchw.feeder.src
    raw = {s: make_batch(faceset, IndexSampler(len(faceset), rng), nchw.feeder.src_spec, 2, rng)
           for s in ("src", "dst")}
    batch = {s: {k: torch.from_numpy(v).permute(0, 3, 1, 2).contiguous() for k, v in d.items()}
             for s, d in raw.items()}
    cl_batch = {s: {k: v.contiguous(memory_format=torch.channels_last) for k, v in d.items()}
                for s, d in batch.items()}
    start = {k: v.clone() for k, v in nchw.model.state_dict().items()}
    for k, v in nhwc.model.state_dict().items():
        assert torch.equal(v, start[k]), k  # same seed, same initial weights whatever the layout
    a, b = nchw.step(batch), nhwc.step(cl_batch)
    assert a["loss_src"] == pytest.approx(b["loss_src"], rel=1e-5)
    # AdaBelief's first update is about lr·sign(g): compare the updates as a whole (a gradient at rounding level
    # may flip its sign between the two layouts' convolution orders)
    da, db = [], []
    for k, v in nhwc.model.state_dict().items():
        db.append((v - start[k]).flatten())
        da.append((nchw.model.state_dict()[k] - start[k]).flatten())
    upd_a, upd_b = torch.cat(da), torch.cat(db)
    assert float(upd_a.abs().max()) > 1e-5  # the step did update the weights
    assert float((upd_a - upd_b).norm() / upd_a.norm()) < 1e-2
    assert float((upd_a.sign() == upd_b.sign()).float().mean()) > 0.999
