"""Image filters of DeepFaceLab's merger (dfl.md §10): motion blur, sharpen/blur, frame denoise, bicubic and
colour degrade. Images are float32 BGR; none of these change the image size or dtype.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.checks import check_choice, check_image, check_number
from engine.errors import FacecompError
from engine.faces.align import transform_mat, transform_points

SHARPEN_MODES = ("none", "box", "gaussian")


def _landmarks(where: str, name: str, value: object) -> np.ndarray:
    points = np.asarray(value, np.float64) if isinstance(value, np.ndarray | list | tuple) else None
    if points is None or points.ndim != 2 or points.shape[1] != 2 or len(points) < 5:
        shape = getattr(value, "shape", type(value).__name__)
        raise FacecompError(f"{where}: {name} must be Nx2 face landmarks, got {shape}")
    return points


def motion_vector(prev: np.ndarray, current: np.ndarray, nxt: np.ndarray) -> tuple[float, float]:
    """(power, angle in degrees) of a face's motion around a frame: the displacement between the previous and
    next frame of the centre of the face's full_face 256 px square."""
    centres = []
    for name, value in (("prev", prev), ("current", current), ("nxt", nxt)):
        lm = _landmarks("filters.motion_vector", name, value)
        mat = transform_mat(lm, 256, "full_face")
        centres.append(transform_points(np.array([[128.0, 128.0]]), mat, invert=True)[0])
    v = centres[2] - centres[0]
    return float(np.linalg.norm(v)), float(-math.degrees(math.atan2(v[1], v[0])))


def motion_blur(img: np.ndarray, power: float, angle: float, amount: int) -> np.ndarray:
    """Linear motion blur along ``angle`` with a kernel of ``power * amount / 100`` px (2..50), DFL's rule."""
    check_image("filters.motion_blur", "img", img)
    check_number("filters.motion_blur", "power", power, 0)
    check_number("filters.motion_blur", "angle", angle)
    check_number("filters.motion_blur", "amount", amount, integer=True)
    k = int(power * amount / 100.0)
    if amount <= 0 or k < 1:
        return img
    k = int(np.clip(k + 1, 2, 50))
    kernel = np.zeros((k, k), np.float32)
    kernel[(k - 1) // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (k, k))
    total = kernel.sum()
    if total <= 0:
        return img
    return cv2.filter2D(img, -1, kernel / total)


def _median_passes(img: np.ndarray, passes: float) -> np.ndarray:
    """``passes`` median-5 filter passes; the fractional part blends the last pass in."""
    out = img
    while passes > 1e-6:
        blurred = cv2.medianBlur(out, 5)
        out = blurred if passes >= 1.0 else out * (1.0 - passes) + blurred * passes
        passes -= 1.0
    return out.astype(np.float32)


def sharpen(img: np.ndarray, mode: str, amount: int, kernel_size: int = 3) -> np.ndarray:
    """Sharpen (amount > 0; ``box`` or ``gaussian`` unsharp mask, gain amount/20) or soften (amount < 0:
    -10 per median pass, DFL's blur side of blur/sharpen)."""
    check_image("filters.sharpen", "img", img)
    check_choice("filters.sharpen", "mode", mode, SHARPEN_MODES)
    check_number("filters.sharpen", "amount", amount, integer=True)
    check_number("filters.sharpen", "kernel_size", kernel_size, 1, None, integer=True)
    if amount == 0:
        return img
    if amount < 0:
        return _median_passes(img, -amount / 10.0)
    if mode not in ("box", "gaussian"):
        return img
    gain = amount / 20.0
    k = kernel_size | 1
    soft = cv2.blur(img, (k, k)) if mode == "box" else cv2.GaussianBlur(img, (k, k), 0)
    return (img + (img - soft) * gain).astype(np.float32)


def denoise(img: np.ndarray, power: int) -> np.ndarray:
    """Median-filter the frame: 100 = one full median-5 pass, 250 = two passes and a half."""
    check_image("filters.denoise", "img", img)
    check_number("filters.denoise", "power", power, integer=True)
    return img if power <= 0 else _median_passes(img, power / 100.0)


def bicubic_degrade(img: np.ndarray, power: int) -> np.ndarray:
    """Bicubic down- then up-scale by ``1 - power/101`` (DFL's bicubic degrade)."""
    check_image("filters.bicubic_degrade", "img", img)
    check_number("filters.bicubic_degrade", "power", power, None, 100, integer=True)
    if power <= 0:
        return img
    h, w = img.shape[:2]
    p = 1.0 - power / 101.0
    small = cv2.resize(img, (max(1, int(w * p)), max(1, int(h * p))), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def reduce_colors(img: np.ndarray, colors: int = 256) -> np.ndarray:
    """The image with an adaptive palette of ``colors`` colours (float 0..1 in, float out)."""
    check_image("filters.reduce_colors", "img", img)
    check_number("filters.reduce_colors", "colors", colors, 2, 256, integer=True)
    from PIL import Image

    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    pal = Image.fromarray(u8[..., ::-1]).quantize(colors, method=Image.Quantize.MEDIANCUT).convert("RGB")
    return np.asarray(pal, np.float32)[..., ::-1] / 255.0


def color_degrade(img: np.ndarray, power: int) -> np.ndarray:
    """Blend toward a 256-colour version by ``power`` percent."""
    check_image("filters.color_degrade", "img", img)
    check_number("filters.color_degrade", "power", power, None, 100, integer=True)
    if power <= 0:
        return img
    reduced = reduce_colors(img)
    a = power / 100.0
    return (img * (1.0 - a) + reduced * a).astype(np.float32)
