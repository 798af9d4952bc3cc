"""Input checks for public engine functions, in kornia's style: cheap checks of type, shape, dtype and scalar
ranges at the entry of a function, raising the project's FacecompError with the function and argument named
("color_transfer.transfer: image must be HxWx3, got shape (4, 4)"). Pixel values are not scanned.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from engine.errors import FacecompError


def _fail(where: str, name: str, problem: str) -> FacecompError:
    return FacecompError(f"{where}: {name} {problem}")


def check_image(where: str, name: str, value: Any, channels: int = 3) -> np.ndarray:
    """``value`` must be a floating-point HxWxC numpy image with ``channels`` channels and no empty side."""
    if not isinstance(value, np.ndarray):
        raise _fail(where, name, f"must be a numpy array, got {type(value).__name__}")
    if value.ndim != 3 or value.shape[2] != channels:
        raise _fail(where, name, f"must be HxWx{channels}, got shape {tuple(value.shape)}")
    if value.shape[0] == 0 or value.shape[1] == 0:
        raise _fail(where, name, f"is empty (shape {tuple(value.shape)})")
    if not np.issubdtype(value.dtype, np.floating):
        raise _fail(where, name, f"must be floating point (0..1), got {value.dtype}")
    return value


def check_mask(where: str, name: str, value: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """``value`` must be a numeric HxW (or HxWx1) mask, of height and width ``size`` when given."""
    if not isinstance(value, np.ndarray):
        raise _fail(where, name, f"must be a numpy array, got {type(value).__name__}")
    if not (value.ndim == 2 or value.ndim == 3 and value.shape[2] == 1):
        raise _fail(where, name, f"must be HxW or HxWx1, got shape {tuple(value.shape)}")
    if value.shape[0] == 0 or value.shape[1] == 0:
        raise _fail(where, name, f"is empty (shape {tuple(value.shape)})")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)
            or value.dtype == np.bool_):
        raise _fail(where, name, f"must be numeric, got {value.dtype}")
    if size is not None and tuple(value.shape[:2]) != tuple(size):
        raise _fail(where, name, f"must be {size[0]}x{size[1]} like the image, got {value.shape[0]}x{value.shape[1]}")
    return value


def check_number(where: str, name: str, value: Any, low: float | None = None, high: float | None = None,
                 integer: bool = False) -> float:
    """``value`` must be a real number (an integer with ``integer``) within ``low``..``high``."""
    kinds: tuple[type, ...] = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    number = math.nan
    if type(value) is not bool and isinstance(value, kinds):
        number = float(value)  # type: ignore[arg-type]  # narrowed to object through the tuple variable
    if not math.isfinite(number):
        raise _fail(where, name, f"must be {'an integer' if integer else 'a finite number'}, got {value!r}")
    if low is not None and number < low or high is not None and number > high:
        lo = "" if low is None else f"{low:g}"
        hi = "" if high is None else f"{high:g}"
        raise _fail(where, name, f"{value} outside {lo}..{hi}")
    return number


def check_choice(where: str, name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise _fail(where, name, f"{value!r} not one of {', '.join(map(str, choices))}")
    return value
