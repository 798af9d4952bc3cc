"""DFL's XSeg sample augmentations (dfl.md §5) on float32 BGR 0..1 images and 0..1 masks.

Per sample: 50% a random other face's background composited behind this one (its face removed, turned
±180°, scaled ±10%, shifted ±10%, flipped, HSV-shifted or RGB-levelled, blended with strength 0.15-1);
random warp + affine (rotation ±10°, scale ±5%, shift ±5%, flip 40%: the swap trainer's warp), mask
re-binarised; 50% face flare, 50% background flare; HSV shift or RGB levels; sharpen or motion/gaussian blur;
nearest or bilinear down-up resize; JPEG re-compression. Local effects are confined to a random faded circle.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.training.augment import apply_warp, warp_params

Rng = np.random.Generator
XSEG_SCALE_RANGE = (-0.05, 0.05)  # DFL's XSeg generator: scale ±5 % (SAEHD's ±15 %); rotation and shift as SAEHD


def faded_circle(res: int, rng: Rng) -> np.ndarray:
    """A random soft disc mask (HxWx1): random centre, radius and fade width."""
    cy, cx = rng.uniform(0, res, 2)
    radius = rng.uniform(0.2, 1.0) * res
    fade = max(1.0, rng.uniform(0.1, 1.0) * radius)
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32)
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    return np.clip((radius - d) / fade, 0.0, 1.0)[..., None]


def _blend(img: np.ndarray, out: np.ndarray, circle: np.ndarray) -> np.ndarray:
    return img * (1.0 - circle) + out * circle


def hsv_shift(img: np.ndarray, rng: Rng, h_amount: float = 0.1, s_amount: float = 0.5,
              v_amount: float = 0.5) -> np.ndarray:
    """Random hue/saturation/value shift (DFL's apply_random_hsv_shift ranges)."""
    hsv = cv2.cvtColor(np.clip(img, 0, 1).astype(np.float32), cv2.COLOR_BGR2HSV)
    h, s, v = cv2.split(hsv)
    h = (h + rng.uniform(-h_amount, h_amount) * 360.0) % 360.0
    s = np.clip(s + rng.uniform(-s_amount, s_amount), 0, 1)
    v = np.clip(v + rng.uniform(-v_amount, v_amount), 0, 1)
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR)


def rgb_levels(img: np.ndarray, rng: Rng) -> np.ndarray:
    """Random per-channel input/output levels and gamma (DFL's apply_random_rgb_levels)."""
    in_lo = rng.uniform(0, 0.25, 3)
    in_hi = rng.uniform(0.75, 1.0, 3)
    gamma = rng.uniform(0.5, 1.5, 3)
    out_lo = rng.uniform(0, 0.25, 3)
    out_hi = rng.uniform(0.75, 1.0, 3)
    x = np.clip((img - in_lo) / (in_hi - in_lo), 0, 1) ** gamma
    return (x * (out_hi - out_lo) + out_lo).astype(np.float32)


def colour_jitter(img: np.ndarray, rng: Rng) -> np.ndarray:
    """HSV shift or RGB levels, 50/50."""
    return hsv_shift(img, rng) if rng.integers(2) == 0 else rgb_levels(img, rng)


def random_affine(res: int, rng: Rng, rotation: float = 10.0, scale: float = 0.05, shift: float = 0.05,
                  flip_p: float = 0.4) -> np.ndarray:
    """2x3 matrix: rotation ±``rotation`` deg, scale ±``scale``, shift ±``shift``·res about the centre, random flip."""
    angle = rng.uniform(-rotation, rotation)
    s = 1.0 + rng.uniform(-scale, scale)
    m = cv2.getRotationMatrix2D((res / 2, res / 2), angle, s)
    m[:, 2] += rng.uniform(-shift, shift, 2) * res
    if rng.uniform() < flip_p:
        m = np.array([[-1, 0, res - 1], [0, 1, 0]], np.float64) @ np.vstack([m, [0, 0, 1]])
    return m


def warp_pair(img: np.ndarray, mask: np.ndarray, rng: Rng, warp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """DFL's XSeg sample warp: the swap trainer's random warp, affine and flip (engine.training.augment: the same
    grid draw and order, as DFL's XSeg generator calls the same gen_warp_params/warp_by_params as SAEHD's) with
    XSeg's ranges (rotation ±10°, scale ±5 %, shift ±5 %, flip 40 %), the same draw for image and mask; the
    mask re-binarised at 0.5."""
    params = warp_params(rng, img.shape[0], flip=True, scale_range=XSEG_SCALE_RANGE)
    img = apply_warp(img, params, warp)
    mask = apply_warp(mask, params, warp, is_mask=True)
    return img, (mask > 0.5).astype(np.float32)


def composite_background(img: np.ndarray, mask: np.ndarray, bg_img: np.ndarray, bg_mask: np.ndarray,
                         rng: Rng) -> np.ndarray:
    """Blend another face's background (its face removed) in behind this face (DFL's bg composite)."""
    res = img.shape[0]
    m = random_affine(res, rng, rotation=180.0, scale=0.1, shift=0.1, flip_p=0.5)
    bg_img = cv2.warpAffine(bg_img, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bg_mask = cv2.warpAffine(bg_mask, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bg_img = colour_jitter(bg_img * (1.0 - bg_mask[..., None]), rng)
    c_mask = (1.0 - (1.0 - bg_mask) * (1.0 - mask))[..., None]
    strength = 0.15 + rng.uniform() * 0.85
    return img * c_mask + img * (1.0 - c_mask) * strength + bg_img * (1.0 - c_mask) * (1.0 - strength)


def flare(img: np.ndarray, region: np.ndarray, rng: Rng) -> np.ndarray:
    """Add a wide Gaussian blur of the image inside ``region`` (kernel in [res/4, res), odd)."""
    res = img.shape[0]
    k = int(rng.integers(res // 4, res)) | 1
    return np.clip(img + cv2.GaussianBlur(img * region[..., None], (k, k), 0), 0.0, 1.0)


def sharpen(img: np.ndarray, rng: Rng) -> np.ndarray:
    k = int(rng.integers(1, 3)) * 2 + 1
    blur = cv2.GaussianBlur(img, (k, k), 0)
    return np.clip(img + (img - blur) * rng.uniform(0.5, 1.5), 0, 1)


def motion_blur(img: np.ndarray, rng: Rng, max_size: int = 5) -> np.ndarray:
    size = int(rng.integers(2, max_size + 1))
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0 / size
    rot = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), rng.uniform(0, 360), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (size, size))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


def gaussian_blur(img: np.ndarray, rng: Rng, max_kernel: int = 9) -> np.ndarray:
    k = int(rng.integers(1, max_kernel // 2 + 1)) * 2 + 1
    return cv2.GaussianBlur(img, (k, k), 0)


def down_up(img: np.ndarray, rng: Rng, nearest: bool) -> np.ndarray:
    """Resize down by up to 75% and back (nearest or bilinear)."""
    res = img.shape[0]
    small = max(4, int(res * (1.0 - rng.uniform(0, 0.75))))
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(cv2.resize(img, (small, small), interpolation=interp), (res, res), interpolation=interp)


def jpeg(img: np.ndarray, rng: Rng) -> np.ndarray:
    q = int(rng.integers(10, 101))
    ok, buf = cv2.imencode(".jpg", (np.clip(img, 0, 1) * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255.0 if ok else img


def augment(img: np.ndarray, mask: np.ndarray, rng: Rng, background: tuple[np.ndarray, np.ndarray] | None = None,
            warp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One training sample: DFL's XSeg augmentation chain. ``background`` = (img, mask) of another face."""
    res = img.shape[0]
    if background is not None and rng.integers(2) == 0:
        img = composite_background(img, mask, background[0], background[1], rng)
    img, mask = warp_pair(img, mask, rng, warp=warp)
    if rng.integers(2) == 0:
        img = flare(img, mask, rng)
    if rng.integers(2) == 0:
        img = flare(img, 1.0 - mask, rng)
    img = _blend(img, colour_jitter(img, rng), faded_circle(res, rng))
    if rng.integers(2) == 0:
        img = _blend(img, sharpen(img, rng), faded_circle(res, rng))
    else:
        if rng.uniform() < 0.25:
            img = _blend(img, motion_blur(img, rng), faded_circle(res, rng))
        if rng.uniform() < 0.25:
            img = _blend(img, gaussian_blur(img, rng), faded_circle(res, rng))
    if rng.uniform() < 0.25:
        img = _blend(img, down_up(img, rng, nearest=rng.integers(2) == 0), faded_circle(res, rng))
    if rng.uniform() < 0.25:
        img = _blend(img, jpeg(img, rng), faded_circle(res, rng))
    return np.clip(img, 0.0, 1.0).astype(np.float32), mask.astype(np.float32)
