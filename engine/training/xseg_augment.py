"""DFL's XSeg sample augmentations (dfl.md §5) on float32 BGR 0..1 images and 0..1 masks.

Per sample: 50% a random other face's background composited behind this one (its face removed, turned
±180°, scaled ±10%, shifted ±10%, flipped, HSV-shifted or RGB-levelled, blended with strength 0.15-1);
random warp + affine (rotation ±10°, scale ±5%, shift ±5%, flip 40%: the swap trainer's warp), mask
re-binarised; 50% face flare, 50% background flare; HSV shift or RGB levels; sharpen or motion/gaussian blur;
nearest or bilinear down-up resize; JPEG re-compression. Local effects are confined to a random faded circle.

The chain is split in two: :func:`draw_chain` draws one sample's random numbers (an :class:`XSegDraw`: every
choice, kernel size, circle and colour value, in the order DFL's chain consumes them) and :func:`apply_chain`
applies them with OpenCV; engine.training.xseg_device_augment applies the same draws with PyTorch on the
training device. The draws never depend on the image, so both paths consume the generator identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.training.augment import WarpDraw, WarpParams, apply_warp, dense_maps, draw_warp

Rng = np.random.Generator
XSEG_SCALE_RANGE = (-0.05, 0.05)  # DFL's XSeg generator: scale ±5 % (SAEHD's ±15 %); rotation and shift as SAEHD
MOTION_MAX = 5  # motion blur kernel sizes 2..5
BLUR_MAX = 9  # gaussian blur kernels 3..9


@dataclass
class Circle:
    """A soft disc: centre (cx, cy) px, radius px, fade width px (the effect fades from 1 inside to 0)."""

    cx: float
    cy: float
    radius: float
    fade: float


@dataclass
class ColourDraw:
    """HSV shift (dh degrees, ds, dv) or RGB levels (rows in_lo, in_hi, gamma, out_lo, out_hi; 3 channels)."""

    hsv: tuple[float, float, float] | None = None
    levels: np.ndarray | None = None


@dataclass
class BackgroundDraw:
    affine: np.ndarray  # 2x3, another face -> this sample (cv2.warpAffine's forward matrix)
    colour: ColourDraw
    strength: float


@dataclass
class XSegDraw:
    """One sample's random draws of the whole chain (None: that step is skipped)."""

    background: BackgroundDraw | None
    warp: WarpDraw
    face_flare: int | None  # odd gaussian kernel side
    bg_flare: int | None
    colour: ColourDraw
    colour_circle: Circle
    sharpen: tuple[int, float, Circle] | None  # kernel, amount
    motion: tuple[int, float, Circle] | None  # size, angle in degrees
    blur: tuple[int, Circle] | None  # kernel
    resize: tuple[bool, int, Circle] | None  # nearest, small side
    jpeg: tuple[int, Circle] | None  # quality


def draw_circle(res: int, rng: Rng) -> Circle:
    cy, cx = rng.uniform(0, res, 2)
    radius = rng.uniform(0.2, 1.0) * res
    return Circle(float(cx), float(cy), float(radius), float(max(1.0, rng.uniform(0.1, 1.0) * radius)))


def draw_colour(rng: Rng, h_amount: float = 0.1, s_amount: float = 0.5, v_amount: float = 0.5) -> ColourDraw:
    """HSV shift or RGB levels, 50/50 (DFL's apply_random_hsv_shift / apply_random_rgb_levels ranges)."""
    if rng.integers(2) == 0:
        return ColourDraw(hsv=(float(rng.uniform(-h_amount, h_amount) * 360.0), float(rng.uniform(-s_amount, s_amount)),
                               float(rng.uniform(-v_amount, v_amount))))
    lims = [(0, 0.25), (0.75, 1.0), (0.5, 1.5), (0, 0.25), (0.75, 1.0)]
    return ColourDraw(levels=np.stack([rng.uniform(lo, hi, 3) for lo, hi in lims]))


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


def draw_chain(rng: Rng, res: int, has_background: bool) -> XSegDraw:
    """One sample's draws in the order of DFL's chain (see the module doc)."""
    bg = None
    if has_background and rng.integers(2) == 0:
        affine = random_affine(res, rng, rotation=180.0, scale=0.1, shift=0.1, flip_p=0.5)
        colour = draw_colour(rng)
        bg = BackgroundDraw(affine, colour, float(0.15 + rng.uniform() * 0.85))
    warp = draw_warp(rng, res, True, XSEG_SCALE_RANGE)
    face_flare = int(rng.integers(res // 4, res)) | 1 if rng.integers(2) == 0 else None
    bg_flare = int(rng.integers(res // 4, res)) | 1 if rng.integers(2) == 0 else None
    colour = draw_colour(rng)
    colour_circle = draw_circle(res, rng)
    sharpen = motion = blur = None
    if rng.integers(2) == 0:
        k = int(rng.integers(1, 3)) * 2 + 1
        amount = float(rng.uniform(0.5, 1.5))
        sharpen = (k, amount, draw_circle(res, rng))
    else:
        if rng.uniform() < 0.25:
            size = int(rng.integers(2, MOTION_MAX + 1))
            angle = float(rng.uniform(0, 360))
            motion = (size, angle, draw_circle(res, rng))
        if rng.uniform() < 0.25:
            k = int(rng.integers(1, BLUR_MAX // 2 + 1)) * 2 + 1
            blur = (k, draw_circle(res, rng))
    resize = jpeg = None
    if rng.uniform() < 0.25:
        nearest = bool(rng.integers(2) == 0)
        small = max(4, int(res * (1.0 - rng.uniform(0, 0.75))))
        resize = (nearest, small, draw_circle(res, rng))
    if rng.uniform() < 0.25:
        q = int(rng.integers(10, 101))
        jpeg = (q, draw_circle(res, rng))
    return XSegDraw(bg, warp, face_flare, bg_flare, colour, colour_circle, sharpen, motion, blur, resize, jpeg)


# ---- application with OpenCV ----------------------------------------------------------------------------------


def faded_circle(res: int, c: Circle) -> np.ndarray:
    """The disc of ``c`` as an HxWx1 weight: 1 inside, fading linearly to 0 over ``fade`` px at the radius."""
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32)
    d = np.sqrt((yy - c.cy) ** 2 + (xx - c.cx) ** 2)
    return np.clip((c.radius - d) / c.fade, 0.0, 1.0)[..., None]


def _blend(img: np.ndarray, out: np.ndarray, circle: Circle) -> np.ndarray:
    weight = faded_circle(img.shape[0], circle)
    return img * (1.0 - weight) + out * weight


def hsv_shift(img: np.ndarray, shift: tuple[float, float, float]) -> np.ndarray:
    """Hue + dh degrees (mod 360), saturation and value + ds, dv clipped, in OpenCV's float HSV."""
    hsv = cv2.cvtColor(np.clip(img, 0, 1).astype(np.float32), cv2.COLOR_BGR2HSV)
    h, s, v = cv2.split(hsv)
    h = (h + shift[0]) % 360.0
    s = np.clip(s + shift[1], 0, 1)
    v = np.clip(v + shift[2], 0, 1)
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR)


def rgb_levels(img: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per-channel input/output levels and gamma."""
    in_lo, in_hi, gamma, out_lo, out_hi = levels
    x = np.clip((img - in_lo) / (in_hi - in_lo), 0, 1) ** gamma
    return (x * (out_hi - out_lo) + out_lo).astype(np.float32)


def colour_jitter(img: np.ndarray, c: ColourDraw) -> np.ndarray:
    return hsv_shift(img, c.hsv) if c.hsv is not None else rgb_levels(img, c.levels)  # type: ignore[arg-type]


def warp_pair(img: np.ndarray, mask: np.ndarray, rng: Rng | WarpDraw, warp: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """DFL's XSeg sample warp: the swap trainer's random warp, affine and flip (engine.training.augment: the same
    grid draw and order, as DFL's XSeg generator calls the same gen_warp_params/warp_by_params as SAEHD's) with
    XSeg's ranges (rotation ±10°, scale ±5 %, shift ±5 %, flip 40 %), the same draw for image and mask; the
    mask re-binarised at 0.5. ``rng``: a generator to draw from, or a draw."""
    d = rng if isinstance(rng, WarpDraw) else draw_warp(rng, img.shape[0], True, XSEG_SCALE_RANGE)
    params = WarpParams(d.size, *dense_maps(d), d.affine, d.flip)
    img = apply_warp(img, params, warp)
    mask = apply_warp(mask, params, warp, is_mask=True)
    return img, (mask > 0.5).astype(np.float32)


def composite_background(img: np.ndarray, mask: np.ndarray, bg_img: np.ndarray, bg_mask: np.ndarray,
                         d: BackgroundDraw) -> np.ndarray:
    """Blend another face's background (its face removed) in behind this face (DFL's bg composite)."""
    res = img.shape[0]
    bg_img = cv2.warpAffine(bg_img, d.affine, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bg_mask = cv2.warpAffine(bg_mask, d.affine, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bg_img = colour_jitter(bg_img * (1.0 - bg_mask[..., None]), d.colour)
    c_mask = (1.0 - (1.0 - bg_mask) * (1.0 - mask))[..., None]
    s = d.strength
    return img * c_mask + img * (1.0 - c_mask) * s + bg_img * (1.0 - c_mask) * (1.0 - s)


def flare(img: np.ndarray, region: np.ndarray, k: int) -> np.ndarray:
    """Add a wide (``k`` odd) Gaussian blur of the image inside ``region``."""
    return np.clip(img + cv2.GaussianBlur(img * region[..., None], (k, k), 0), 0.0, 1.0)


def sharpen(img: np.ndarray, k: int, amount: float) -> np.ndarray:
    blur = cv2.GaussianBlur(img, (k, k), 0)
    return np.clip(img + (img - blur) * amount, 0, 1)


def motion_kernel(size: int, angle: float) -> np.ndarray:
    """A centred horizontal line of ``size`` px turned by ``angle`` degrees (bilinear), normalised to sum 1."""
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0 / size
    rot = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (size, size))
    return kernel / max(kernel.sum(), 1e-6)


def motion_blur(img: np.ndarray, size: int, angle: float) -> np.ndarray:
    return cv2.filter2D(img, -1, motion_kernel(size, angle))


def gaussian_blur(img: np.ndarray, k: int) -> np.ndarray:
    return cv2.GaussianBlur(img, (k, k), 0)


def down_up(img: np.ndarray, nearest: bool, small: int) -> np.ndarray:
    """Resize down to ``small`` px and back (nearest or bilinear)."""
    res = img.shape[0]
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(cv2.resize(img, (small, small), interpolation=interp), (res, res), interpolation=interp)


def jpeg(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", (np.clip(img, 0, 1) * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255.0 if ok else img


def apply_chain(img: np.ndarray, mask: np.ndarray, d: XSegDraw, background: tuple[np.ndarray, np.ndarray] | None,
                warp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The chain of one sample's draws ``d`` with OpenCV (``background``: the other face's image and mask)."""
    if d.background is not None and background is not None:
        img = composite_background(img, mask, background[0], background[1], d.background)
    img, mask = warp_pair(img, mask, d.warp, warp=warp)
    if d.face_flare is not None:
        img = flare(img, mask, d.face_flare)
    if d.bg_flare is not None:
        img = flare(img, 1.0 - mask, d.bg_flare)
    img = _blend(img, colour_jitter(img, d.colour), d.colour_circle)
    if d.sharpen is not None:
        img = _blend(img, sharpen(img, d.sharpen[0], d.sharpen[1]), d.sharpen[2])
    if d.motion is not None:
        img = _blend(img, motion_blur(img, d.motion[0], d.motion[1]), d.motion[2])
    if d.blur is not None:
        img = _blend(img, gaussian_blur(img, d.blur[0]), d.blur[1])
    if d.resize is not None:
        img = _blend(img, down_up(img, d.resize[0], d.resize[1]), d.resize[2])
    if d.jpeg is not None:
        img = _blend(img, jpeg(img, d.jpeg[0]), d.jpeg[1])
    return np.clip(img, 0.0, 1.0).astype(np.float32), mask.astype(np.float32)


def augment(img: np.ndarray, mask: np.ndarray, rng: Rng, background: tuple[np.ndarray, np.ndarray] | None = None,
            warp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One training sample: DFL's XSeg augmentation chain. ``background`` = (img, mask) of another face."""
    return apply_chain(img, mask, draw_chain(rng, img.shape[0], background is not None), background, warp)
