"""Merge settings: DeepFaceLab's merger options (names, ranges, defaults from dfl.md §10) and the per-frame
settings file that replaces DFL's interactive merger session.

Settings file (TOML or JSON): top-level keys (or a ``[defaults]`` table) are the defaults; each
``[[frames]]`` entry has a ``range`` ("12-40", "7", [12, 40]) and the options it overrides for those frames.
Later entries win. DFL's own key names (``erode_mask_modifier``, ``color_transfer_mode = 1``, ``mode = 1`` ...)
and integer codes are accepted too; DFL options facecomp does not have (``super_resolution_power``) are named with
what to use instead. Values are converted and checked once, in :meth:`FrameSettings.create`. Example::

    mode = "overlay"
    mask_mode = "learned-prd*learned-dst"
    erode = 10
    blur = 25
    color_transfer = "rct"

    [[frames]]
    range = "120-180"
    blur = 60
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine import atomic
from engine.errors import FacecompError
from engine.options import Option, load_config, unknown_option
from engine.swap.color_transfer import MODES as COLOR_TRANSFERS
from engine.swap.filters import SHARPEN_MODES
from engine.swap.mask_modes import MASK_MODES

MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")



def _codes(names: tuple[str, ...]) -> dict[str, str]:
    """DFL's integer codes (index in DFL's order) and the lower-case spellings of ``names``."""
    return {**{str(i): n for i, n in enumerate(names)}, **{n.lower(): n for n in names}}


MERGE_OPTIONS: list[Option] = [
    Option("mode", "overlay", "merge mode", MODES, aliases=_codes(MODES)),
    Option("mask_mode", "dst", "mask mode (dst = landmark hull)", MASK_MODES, aliases=_codes(MASK_MODES)),
    Option("erode", 0, "erode (+) or dilate (-) the mask, px at 4x the model resolution", None, -400, 400),
    Option("blur", 0, "blur the mask edge, px at 4x the model resolution", None, 0, 400),
    Option("motion_blur", 0, "motion blur power (needs a track or aligned faces; one face per frame)", None, 0, 100),
    Option("face_scale", 0, "output face scale (scale = 1 + 0.01 * value)", None, -50, 50),
    Option("color_transfer", "none", "colour transfer to the predicted face", COLOR_TRANSFERS,
           aliases=_codes(COLOR_TRANSFERS)),
    Option("sharpen_mode", "none", "sharpen mode", SHARPEN_MODES, aliases=_codes(SHARPEN_MODES)),
    Option("sharpen_amount", 0, "sharpen (+) or median-blur (-) the face", None, -100, 100),
    Option("hist_match_threshold", 255, "hist-match threshold (hist-match modes)", None, 0, 255),
    Option("masked_hist_match", True, "hist-match inside the mask only"),
    Option("image_denoise", 0, "denoise the whole frame (median passes; 100 = one pass)", None, 0, 500),
    Option("bicubic_degrade", 0, "degrade the whole frame by bicubic down/up-scaling", None, 0, 100),
    Option("color_degrade", 0, "blend the result with a 256-colour version", None, 0, 100),
    Option("morph_factor", 1.0, "AMP morph factor (0 = dst, 1 = src)", None, 0.0, 1.0),
]
OPTION_NAMES = tuple(o.name for o in MERGE_OPTIONS)
_TABLE = {o.name: o for o in MERGE_OPTIONS}
# DeepFaceLab's MergerConfig names -> ours
DFL_NAMES = {
    "erode_mask_modifier": "erode", "blur_mask_modifier": "blur", "motion_blur_power": "motion_blur",
    "output_face_scale": "face_scale", "color_transfer_mode": "color_transfer", "blursharpen_amount": "sharpen_amount",
    "image_denoise_power": "image_denoise", "bicubic_degrade_power": "bicubic_degrade",
    "color_degrade_power": "color_degrade",
}
# DeepFaceLab merger options facecomp does not have -> what to use instead
DFL_RETIRED = {
    "super_resolution_power": "DFL's FaceEnhancer weights cannot be shipped; use sharpen_mode / sharpen_amount "
                              "(or upscale the face in the compositing host)",
    "face_type": "the face type comes from the model (a .dfm without metadata: --face-type)",
    "default_mode": "set mode",
}


@dataclass(frozen=True)
class MergeSettings:
    """The merge options of one frame (see MERGE_OPTIONS for meaning and ranges)."""

    mode: str = "overlay"
    mask_mode: str = "dst"
    erode: int = 0
    blur: int = 0
    motion_blur: int = 0
    face_scale: int = 0
    color_transfer: str = "none"
    sharpen_mode: str = "none"
    sharpen_amount: int = 0
    hist_match_threshold: int = 255
    masked_hist_match: bool = True
    image_denoise: int = 0
    bicubic_degrade: int = 0
    color_degrade: int = 0
    morph_factor: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """A stable text of every value (merge resume redoes a frame whose settings changed)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def uses_xseg(self) -> bool:
        return "XSeg" in self.mask_mode


def normalise(values: dict[str, Any], where: str, flags: bool = False) -> dict[str, Any]:
    """Values of merge options converted and checked (DFL key names, DFL's integer codes and aliases mapped to
    ours); ``flags``: command-line values, whose errors name their flag (``--erode``) instead of ``where``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = DFL_NAMES.get(key, key).replace("-", "_")
        if name not in _TABLE:
            raise unknown_option(key, OPTION_NAMES, where, DFL_RETIRED, what="merge option")
        option = _TABLE[name]
        out[name] = option.convert(value, option.flag if flags else where)
    return out


def parse_frames(spec: str | int | list[int] | tuple[int, int], where: str = "frames") -> list[int]:
    """Frame numbers from "1001-1100", "5", "1-10,20,30-32", an int or a [first, last] pair."""
    if isinstance(spec, bool):
        raise FacecompError(f"bad frame range {spec!r}", where)
    if isinstance(spec, int):
        return [spec]
    if isinstance(spec, list | tuple):
        if len(spec) != 2 or not all(isinstance(v, int) for v in spec) or spec[1] < spec[0]:
            raise FacecompError(f"bad frame range {spec!r} (use [first, last])", where)
        return list(range(spec[0], spec[1] + 1))
    numbers: list[int] = []
    for part in str(spec).replace(" ", "").split(","):
        m = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", part)
        if not m:
            raise FacecompError(f"bad frame range {part!r} (use 1001-1100, 5 or 1-10,20)", where)
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last < first:
            raise FacecompError(f"frame range {part!r} ends before it starts", where)
        numbers.extend(range(first, last + 1))
    return sorted(set(numbers))


@dataclass
class FrameSettings:
    """Defaults plus overrides by frame range; ``for_frame(n)`` gives the MergeSettings of frame ``n``."""

    defaults: dict[str, Any]
    ranges: list[tuple[int, int, dict[str, Any]]]
    flags: dict[str, Any]
    origin: str = "settings"

    @classmethod
    def create(cls, data: dict[str, Any] | None = None, flags: dict[str, Any] | None = None,
               origin: str = "settings") -> FrameSettings:
        """From parsed settings data (as in a file) and command-line values (None = not given)."""
        data = dict(data or {})
        frames = data.pop("frames", [])
        defaults = dict(data.pop("defaults", {}) or {})
        defaults.update(data)
        if not isinstance(frames, list):
            raise FacecompError("'frames' must be a list of tables with a 'range'", origin)
        ranges = []
        for entry in frames:
            if not isinstance(entry, dict) or "range" not in entry:
                raise FacecompError("every [[frames]] entry needs a 'range'", origin)
            values = {k: v for k, v in entry.items() if k != "range"}
            numbers = parse_frames(entry["range"], origin)
            ranges.append((numbers[0], numbers[-1], normalise(values, origin)))
        return cls(normalise(defaults, origin), ranges, {}, origin).with_flags(flags)

    def with_flags(self, flags: dict[str, Any] | None, origin: str | None = None) -> FrameSettings:
        """These settings with command-line values (None = not given) on top, checked once; their errors name
        the flag, or ``origin`` (e.g. the worker's ``overrides``) when given."""
        given = {k: v for k, v in (flags or {}).items() if v is not None}
        if not given:
            return self
        checked = normalise(given, origin, flags=False) if origin else normalise(given, "", flags=True)
        return FrameSettings(self.defaults, self.ranges, {**self.flags, **checked}, self.origin)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None, flags: dict[str, Any] | None = None) -> FrameSettings:
        """Read a settings file (None: defaults only) and apply command-line values on top."""
        if path is None:
            return cls.create({}, flags)
        p = Path(path)
        raw = _read_table(p)
        return cls.create(raw, flags, str(p))

    def for_frame(self, number: int) -> MergeSettings:
        """The settings of frame ``number`` (values were checked by ``create``; nothing is re-validated here)."""
        config = dict(self.defaults)
        for first, last, values in self.ranges:
            if first <= number <= last:
                config.update(values)
        return MergeSettings(**{**config, **self.flags})

    def to_data(self) -> dict[str, Any]:
        data = {**self.defaults, **self.flags}
        frames = [{"range": f"{a}-{b}", **v} for a, b, v in self.ranges]
        return {**data, "frames": frames} if frames else data

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write these settings (flags folded into the defaults) as TOML, or JSON for a .json path."""
        p = Path(path)
        data = self.to_data()
        if p.suffix.lower() == ".json":
            atomic.write_text(p, json.dumps(data, indent=2) + "\n")
            return
        lines = ["# facecomp merge settings: defaults, then [[frames]] overrides by range (later wins)"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if k != "frames"]
        for entry in data.get("frames", []):
            lines += ["", "[[frames]]", *(f"{k} = {_toml_value(v)}" for k, v in entry.items())]
        atomic.write_text(p, "\n".join(lines) + "\n")


def _read_table(p: Path) -> dict[str, Any]:
    """A settings file (TOML or JSON, size-limited) as a dict, keeping ``[[frames]]`` as they are."""
    return load_config(p, flatten=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))
