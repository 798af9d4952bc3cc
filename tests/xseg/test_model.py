"""XSeg network: DFL's parameter count and names, TF-SAME transposed conv, blur-pool, FRN/TLU, optimizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import FacecompError
from engine.training.optimizers import DFLOptimizer, FlatParams
from engine.xseg.model import BlurPool, FRNorm2D, UpConvBlock, XSegNet, parameter_count
from engine.xseg.naming import dfl_key_to_ours, ours_to_dfl_key, state_dict_from_dfl, torch_to_dfl_array


@pytest.fixture(scope="module")
def net256() -> XSegNet:
    torch.manual_seed(0)
    return XSegNet()


def test_parameter_count_is_dfls(net256: XSegNet) -> None:
    assert parameter_count(net256) == 17_569_317
    dense = sum(p.numel() for name, p in net256.named_parameters() if name.startswith("dense"))
    assert dense == 4_198_912  # dfl.md §6: the dense pair


def test_names_follow_dfl_keys(net256: XSegNet) -> None:
    names = set(net256.state_dict())
    for key in ("conv01.conv.weight", "conv01.frn.eps", "conv01.tlu.tau", "up5.conv.bias", "uconv53.frn.weight",
                "dense1.weight", "dense2.bias", "out_conv.weight"):
        assert key in names
    assert "bp0.kernel" not in names  # blur-pool has no weights (not saved)
    assert dfl_key_to_ours("conv01/frn/eps:0") == "conv01.frn.eps"
    assert ours_to_dfl_key("up5.conv.weight") == "up5/conv/weight:0"
    # a DFL-layout dict (HWIO convs, (in,out) dense, (k,k,out,in) transposed convs) maps back exactly
    dfl = {ours_to_dfl_key(k): torch_to_dfl_array(k, v) for k, v in net256.state_dict().items()}
    assert dfl["conv01/conv/weight:0"].shape == (3, 3, 3, 32)
    assert dfl["up5/conv/weight:0"].shape == (3, 3, 128, 256)
    assert dfl["dense1/weight:0"].shape == (4096, 512)
    back = state_dict_from_dfl(dfl, net256)
    for k, v in net256.state_dict().items():
        assert torch.equal(back[k], v), k
    with pytest.raises(ValueError):
        state_dict_from_dfl({**dfl, "extra/weight:0": np.zeros(1)}, net256)


def test_upconv_is_tf_same_transposed_conv() -> None:
    torch.manual_seed(1)
    up = UpConvBlock(2, 3)
    x = torch.randn(1, 2, 4, 5)
    w, b = up.conv.weight.detach().numpy(), up.conv.bias.detach().numpy()  # (in, out, k, k)
    # TF conv2d_transpose, stride 2, k 3, SAME: full output then drop pad_before = 0, keep 2H x 2W
    full = np.zeros((3, 2 * 4 + 1, 2 * 5 + 1))
    xn = x.numpy()[0]
    for i in range(2):
        for yy in range(4):
            for xx in range(5):
                full[:, 2 * yy:2 * yy + 3, 2 * xx:2 * xx + 3] += xn[i, yy, xx] * w[i]
    expect = full[:, :8, :10] + b[:, None, None]
    got = up.conv(x)[:, :, :8, :10].detach().numpy()[0]
    assert np.allclose(got, expect, atol=1e-5)
    assert up(x).shape == (1, 3, 8, 10)


def test_blurpool_and_frn() -> None:
    for n, size in ((4, 256), (3, 128), (2, 64)):
        bp = BlurPool(n, 2)
        y = bp(torch.ones(1, 2, size, size))
        assert y.shape == (1, 2, size // 2, size // 2)
        assert torch.allclose(y[:, :, 2:-2, 2:-2], torch.ones(1))  # normalised kernel keeps flat regions
    frn = FRNorm2D(2)
    x = torch.randn(3, 2, 5, 5)
    expect = x / torch.sqrt((x**2).mean(dim=(2, 3), keepdim=True) + 1e-6)
    assert torch.allclose(frn(x), expect, atol=1e-5)


def test_forward_shapes_and_resolutions() -> None:
    net = XSegNet(64)
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 1, 64, 64)
    with pytest.raises(FacecompError, match="multiple of 64"):
        XSegNet(100)


def test_rmsprop_matches_dfl_formula_and_lr_dropout() -> None:
    """XSeg trains with the swap trainer's optimizer (engine.training.optimizers): DFL's RMSprop + lr_dropout."""
    p = torch.nn.Parameter(torch.ones(10000))
    opt = DFLOptimizer(FlatParams([("p", p)]), method="rmsprop", lr=0.1)
    opt.flat.grad.fill_(2.0)
    opt.step()
    a = 0.1 * 4.0
    assert torch.allclose(p.detach(), torch.full_like(p, 1 - 0.1 * 2.0 / (np.sqrt(a) + 1e-6)))
    q = torch.nn.Parameter(torch.ones(10000))
    opt = DFLOptimizer(FlatParams([("q", q)]), method="rmsprop", lr=0.1, lr_dropout=True, seed=0)
    opt.flat.grad.fill_(1.0)
    opt.step()
    changed = float((q.detach() != 1).float().mean())
    assert 0.27 < changed < 0.33
