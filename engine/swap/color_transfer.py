"""Colour transfer between faces, DeepFaceLab's set (dfl.md §10): rct, lct, mkl, mkl-m, idt, idt-m, sot-m, mix-m,
plus the per-channel histogram match of the hist-match merge modes.

Every function takes float32 BGR images in 0..1 (``image`` is recoloured toward ``reference``; both the same
size unless noted) and returns a float32 BGR image clipped to 0..1. The ``-m`` variants multiply both images
by a binary mask first, as DFL does. Randomised methods (idt, sot) use a fixed seed, so a frame always
gives the same pixels (stateless rendering). The trainer uses these for ``ct_mode``.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from engine.checks import check_choice, check_image, check_mask, check_number

MODES = ("none", "rct", "lct", "mkl", "mkl-m", "idt", "idt-m", "sot-m", "mix-m")
_EPS = 1e-6


def _pixels(img: np.ndarray) -> np.ndarray:
    return np.asarray(img, np.float64).reshape(-1, img.shape[-1])


def _binary(mask: np.ndarray | None, shape: tuple[int, ...], cutoff: float = 0.5) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask, np.float32).reshape(shape[:2]) > cutoff
    return m if m.any() else None


def _finish(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.clip(np.asarray(img, np.float32).reshape(shape), 0.0, 1.0)


def _sym_power(cov: np.ndarray, power: float) -> np.ndarray:
    """cov ** power for a symmetric positive semi-definite matrix (eigenvalues floored)."""
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, 1e-10)
    return (v * w**power) @ v.T


def _lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(img, 0, 1).astype(np.float32), cv2.COLOR_BGR2LAB)


def _bgr(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2BGR)


def rct(image: np.ndarray, reference: np.ndarray, image_mask: np.ndarray | None = None,
        reference_mask: np.ndarray | None = None) -> np.ndarray:
    """Reinhard transfer: match the mean and deviation of each L*a*b* channel (statistics inside the masks)."""
    src, ref = _lab(image), _lab(reference)
    sm, rm = _binary(image_mask, src.shape), _binary(reference_mask, ref.shape)
    s_px = src[sm] if sm is not None else src.reshape(-1, 3)
    r_px = ref[rm] if rm is not None else ref.reshape(-1, 3)
    s_mean, s_std = s_px.mean(0), s_px.std(0)
    r_mean, r_std = r_px.mean(0), r_px.std(0)
    scale = np.where(s_std > _EPS, r_std / np.maximum(s_std, _EPS), 1.0)
    out = (src - s_mean) * scale + r_mean
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    out[..., 1:] = np.clip(out[..., 1:], -127, 127)
    return _finish(_bgr(out), image.shape)


def lct(image: np.ndarray, reference: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Linear colour transfer (PCA form): whiten with the image covariance, colour with the reference's."""
    x, r = _pixels(image), _pixels(reference)
    mx, mr = x.mean(0), r.mean(0)
    eye = np.eye(x.shape[1]) * eps
    cx = np.cov(x - mx, rowvar=False).reshape(x.shape[1], -1) + eye
    cr = np.cov(r - mr, rowvar=False).reshape(x.shape[1], -1) + eye
    mat = _sym_power(cr, 0.5) @ _sym_power(cx, -0.5)
    return _finish((x - mx) @ mat.T + mr, image.shape)


def mkl(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Monge-Kantorovich linear transfer (Pitié 2007): the linear map with the least displacement."""
    x, r = _pixels(image), _pixels(reference)
    mx, mr = x.mean(0), r.mean(0)
    cx = np.cov(x - mx, rowvar=False) + np.eye(3) * 1e-8
    cr = np.cov(r - mr, rowvar=False) + np.eye(3) * 1e-8
    half, inv_half = _sym_power(cx, 0.5), _sym_power(cx, -0.5)
    mat = inv_half @ _sym_power(half @ cr @ half, 0.5) @ inv_half
    return _finish((x - mx) @ mat.T + mr, image.shape)


def _rotations(n: int, seed: int) -> np.ndarray:
    """The identity then ``n - 1`` random 3-D rotations (QR of Gaussian matrices, uniform over SO(3))."""
    rng = np.random.default_rng(seed)
    out = [np.eye(3)]
    for _ in range(n - 1):
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        q = q * np.sign(np.diag(r))
        if np.linalg.det(q) < 0:
            q[:, 0] = -q[:, 0]
        out.append(q)
    return np.stack(out)


def idt(image: np.ndarray, reference: np.ndarray, bins: int = 256, rotations: int = 20,
        relaxation: float = 1.0, seed: int = 0) -> np.ndarray:
    """Iterative distribution transfer (Pitié 2005): 1-D histogram matching along random 3-D rotations."""
    x, r = _pixels(image).copy(), _pixels(reference)
    for rot in _rotations(rotations, seed):
        xr, rr = x @ rot.T, r @ rot.T
        delta = np.empty_like(xr)
        for i in range(3):
            lo, hi = min(xr[:, i].min(), rr[:, i].min()), max(xr[:, i].max(), rr[:, i].max())
            if hi - lo < 1e-9:
                delta[:, i] = 0.0
                continue
            hx, edges = np.histogram(xr[:, i], bins, (lo, hi))
            hr, _ = np.histogram(rr[:, i], bins, (lo, hi))
            cx = np.cumsum(hx) / max(hx.sum(), 1)
            cr = np.cumsum(hr) / max(hr.sum(), 1)
            mapped = np.interp(cx, cr, edges[1:])
            delta[:, i] = np.interp(xr[:, i], edges[1:], mapped) - xr[:, i]
        x = x + relaxation * (delta @ rot)
    return _finish(x, image.shape)


def sot(image: np.ndarray, reference: np.ndarray, steps: int = 10, batch_size: int = 30,
        reg_sigma_xy: float = 16.0, reg_sigma_v: float = 5.0, seed: int = 0) -> np.ndarray:
    """Sliced optimal transport of the colours, then a bilateral filter of the change (regularisation)."""
    h, w, c = image.shape
    if reference.shape[:2] != (h, w):
        reference = cv2.resize(reference, (w, h), interpolation=cv2.INTER_AREA)
    src = np.asarray(image, np.float32).reshape(-1, c)
    trg = np.asarray(reference, np.float32).reshape(-1, c)
    rng = np.random.default_rng(seed)
    cur = src.copy()
    for _ in range(steps):
        advect = np.zeros_like(cur)
        for _ in range(batch_size):
            d = np.asarray(rng.normal(size=c), np.float32)
            d /= np.linalg.norm(d) + 1e-12
            proj = cur @ d
            order = np.argsort(proj, kind="stable")
            target = np.sort(trg @ d)
            advect[order] += (target - proj[order])[:, None] * d
        cur += advect / batch_size
    if reg_sigma_xy > 0 and reg_sigma_v > 0:
        change = np.ascontiguousarray((cur - src).reshape(h, w, c))
        if c in (1, 3):
            change = cv2.bilateralFilter(change, 0, reg_sigma_v, reg_sigma_xy).reshape(h, w, c)
        else:
            change = np.dstack([cv2.bilateralFilter(np.ascontiguousarray(change[..., i]), 0, reg_sigma_v, reg_sigma_xy)
                                for i in range(c)])
        cur = src + change.reshape(-1, c)
    return _finish(cur, image.shape)


def mix(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Lightness by linear transfer, chroma (a*, b*) by sliced optimal transport."""
    src, ref = _lab(image), _lab(reference)
    light = lct(src[..., :1] / 100.0, ref[..., :1] / 100.0)[..., 0] * 100.0
    ab = sot(src[..., 1:] / 254.0 + 0.5, ref[..., 1:] / 254.0 + 0.5)
    out = np.dstack([light, (ab - 0.5) * 254.0])
    return _finish(_bgr(out), image.shape)


def _masked(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    def run(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return fn(image, reference)
        m = (np.asarray(mask, np.float32).reshape(image.shape[:2] + (1,)) > 0).astype(np.float32)
        return fn(image * m, reference * m)

    run.__doc__ = f"{fn.__name__} on both images multiplied by the binary mask (DFL's '-m' variant)."
    return run


mkl_m = _masked(mkl)
idt_m = _masked(idt)
sot_m = _masked(sot)
mix_m = _masked(mix)


def transfer(mode: str, image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Apply colour transfer ``mode`` (one of MODES) to ``image`` toward ``reference``; ``mask`` is the face area."""
    where = "color_transfer.transfer"
    check_choice(where, "mode", mode, (None, "", *MODES))
    check_image(where, "image", image)
    check_image(where, "reference", reference)
    if mask is not None:
        check_mask(where, "mask", mask, image.shape[:2])
    if mode in (None, "", "none"):
        return np.asarray(image, np.float32)
    if mode == "rct":
        return rct(image, reference, mask, mask)
    table: dict[str, Callable[..., np.ndarray]] = {
        "lct": lct, "mkl": mkl, "idt": idt, "mkl-m": mkl_m, "idt-m": idt_m, "sot-m": sot_m, "mix-m": mix_m,
    }
    fn = table[mode]
    return fn(image, reference, mask) if mode.endswith("-m") else fn(image, reference)


def _channel_hist_match(src: np.ndarray, ref: np.ndarray, threshold: float) -> np.ndarray:
    s_vals, s_idx, s_counts = np.unique(src.ravel(), return_inverse=True, return_counts=True)
    r_vals, r_counts = np.unique(ref.ravel(), return_counts=True)
    s_q = np.cumsum(s_counts, dtype=np.float64)
    s_q *= (threshold / 255.0) / s_q[-1]
    r_q = np.cumsum(r_counts, dtype=np.float64)
    r_q /= r_q[-1]
    return np.interp(s_q, r_q, r_vals)[s_idx].reshape(src.shape)


def hist_match(image: np.ndarray, reference: np.ndarray, threshold: float = 255) -> np.ndarray:
    """Per-channel histogram matching; ``threshold`` (0..255) caps the source quantiles at threshold/255,
    DFL's "hist match threshold" (lower = darker, less blown-out highlights)."""
    check_image("color_transfer.hist_match", "image", image)
    check_image("color_transfer.hist_match", "reference", reference)
    check_number("color_transfer.hist_match", "threshold", threshold, 0, 255)
    out = np.stack([_channel_hist_match(image[..., i], reference[..., i], threshold) for i in range(image.shape[-1])],
                   axis=-1)
    return _finish(out, image.shape)
