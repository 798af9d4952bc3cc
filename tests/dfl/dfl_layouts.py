"""DeepFaceLab's weight-file layouts written out from the README conventions and research/dfl.md §6-8
(key names and TF shapes per part), independent of our model code, to synthesise DFL-style model folders.
"""

from __future__ import annotations

import math

import numpy as np

Layout = dict[str, dict[str, tuple[int, ...]]]  # file part -> key -> TF shape


def _conv(out: dict, name: str, k: int, cin: int, cout: int) -> None:
    out[f"{name}/weight:0"] = (k, k, cin, cout)
    out[f"{name}/bias:0"] = (cout,)


def _dense(out: dict, name: str, cin: int, cout: int) -> None:
    out[f"{name}/weight:0"] = (cin, cout)
    out[f"{name}/bias:0"] = (cout,)


def _up(out: dict, name: str, cin: int, cout: int) -> None:
    _conv(out, f"{name}/conv1", 3, cin, 4 * cout)  # conv to 4·out, then depth-to-space ×2


def _res(out: dict, name: str, ch: int) -> None:
    _conv(out, f"{name}/conv1", 3, ch, ch)
    _conv(out, f"{name}/conv2", 3, ch, ch)


def encoder(e: int, opts: str) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    if "t" in opts:
        _conv(out, "down1/conv1", 5, 3, e)
        _res(out, "res1", e)
        for i, (a, b) in enumerate([(e, 2 * e), (2 * e, 4 * e), (4 * e, 8 * e), (8 * e, 8 * e)], start=2):
            _conv(out, f"down{i}/conv1", 5, a, b)
        _res(out, "res5", 8 * e)
    else:
        chans = [3, e, 2 * e, 4 * e, 8 * e]
        for i in range(4):
            _conv(out, f"down1/downs_{i}/conv1", 5, chans[i], chans[i + 1])
    return out


def decoder(c: int, d: int, m: int, opts: str) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    img = [8 * d, 8 * d, 4 * d, 2 * d] if "t" in opts else [8 * d, 4 * d, 2 * d]
    msk = [8 * m, 8 * m, 4 * m, 2 * m] if "t" in opts else [8 * m, 4 * m, 2 * m]
    if "d" in opts:
        msk.append(m)
    for i, (a, b) in enumerate(zip([c, *img], img, strict=False)):
        _up(out, f"upscale{i}", a, b)
    for i, ch in enumerate(img):
        _res(out, f"res{i}", ch)
    for i, (a, b) in enumerate(zip([c, *msk], msk, strict=False)):
        _up(out, f"upscalem{i}", a, b)
    _conv(out, "out_conv", 1, 2 * d, 3)
    if "d" in opts:
        for k in (1, 2, 3):
            _conv(out, f"out_conv{k}", 3, 2 * d, 3)
    _conv(out, "out_convm", 1, msk[-1], 1)
    return out


def saehd(archi: str, res: int, ae: int, e: int, d: int, m: int) -> Layout:
    """SAEHD (and Quick96 = df-ud 96/128/64/64/16) part files."""
    kind, _, opts = archi.partition("-")
    side = res // (32 if "t" in opts else 16)
    low = res // (32 if "d" in opts else 16)
    flat = 8 * e * side * side
    a = ae if kind == "df" else 2 * ae

    def inter() -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        _dense(out, "dense1", flat, ae)
        _dense(out, "dense2", ae, low * low * a)
        if "t" not in opts:
            _up(out, "upscale1", a, a)
        return out

    if kind == "df":
        dec = decoder(ae, d, m, opts)
        return {"encoder": encoder(e, opts), "inter": inter(), "decoder_src": dec, "decoder_dst": dict(dec)}
    return {"encoder": encoder(e, opts), "inter_AB": inter(), "inter_B": inter(),
            "decoder": decoder(4 * ae, d, m, opts)}


def amp(res: int, ae: int, inter_dims: int, e: int, d: int, m: int) -> Layout:
    """AMP part files: the ``t`` encoder + dense1, two single-dense inters, the ``-udt`` decoder."""
    low = res // 32
    enc = encoder(e, "t")
    _dense(enc, "dense1", 8 * e * low * low, ae)
    inter: dict[str, tuple[int, ...]] = {}
    _dense(inter, "dense2", ae, low * low * inter_dims)
    return {"encoder": enc, "inter_src": inter, "inter_dst": dict(inter), "decoder": decoder(inter_dims, d, m, "dt")}


def count(layout: Layout) -> dict[str, int]:
    return {part: sum(math.prod(s) for s in keys.values()) for part, keys in layout.items()}


def random_weights(layout: Layout, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Small random float32 arrays of the layout's shapes (like a freshly initialised DFL model)."""
    rng = np.random.default_rng(seed)
    return {part: {k: (rng.standard_normal(s) * 0.05).astype(np.float32) for k, s in keys.items()}
            for part, keys in layout.items()}
