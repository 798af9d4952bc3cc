"""DeepFaceLab-style options: one table per model/tool, given as flags (``ae_dims`` -> ``--ae-dims``), in a
TOML/JSON ``--config`` file (``ae_dims = 256``) or as ``--set ae_dims=256``.

Precedence: built-in default < stored options (a resumed model) < config file < command-line flags.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import FacecompError

MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class Option:
    """One option with DeepFaceLab's name, default, and allowed values."""

    name: str
    default: Any
    help: str
    choices: Sequence[Any] | None = None
    low: float | None = None
    high: float | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def convert(self, value: Any, where: str) -> Any:
        """Coerce ``value`` to this option's type and check its range; ``where`` names the source."""
        kind = type(self.default)
        try:
            if kind is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("1", "0", "true", "false", "yes", "no", "y", "n", "on", "off"):
                        raise ValueError(value)
                    value = low in ("1", "true", "yes", "y", "on")
                value = bool(value)
            elif kind is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                value = int(value)
            elif kind is float:
                value = float(value)
            elif kind is str:
                value = str(value)
        except (TypeError, ValueError):
            raise FacecompError(f"option {self.name}: {value!r} is not a {kind.__name__}", where) from None
        if self.choices is not None and value not in self.choices:
            raise FacecompError(f"option {self.name}: {value!r} not one of {', '.join(map(str, self.choices))}", where)
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise FacecompError(f"option {self.name}: {value} outside {self.low}..{self.high}", where)
        return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None: option-table flags default to None and print their real default themselves."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option], title: str = "options") -> None:
    """Add one flag per option; flags default to None so that only given flags override."""
    if issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter):
        parser.formatter_class = HelpFormatter
    group = parser.add_argument_group(title)
    for opt in options:
        extra = f" (default: {opt.default})".replace("%", "%%")
        if isinstance(opt.default, bool):
            group.add_argument(opt.flag, dest=opt.name, action=argparse.BooleanOptionalAction, default=None,
                               help=opt.help.replace("%", "%%") + extra)
        else:
            group.add_argument(opt.flag, dest=opt.name, default=None, choices=opt.choices,
                               type=type(opt.default) if opt.default is not None else str,
                               metavar=opt.name.upper() if opt.choices is None else None,
                               help=opt.help.replace("%", "%%") + extra)


def load_config(path: str | os.PathLike[str], flatten: bool = True) -> dict[str, Any]:
    """Read a TOML (or JSON) options file (at most 1 MiB) as plain data; with ``flatten`` a ``[section]``
    table is flattened one level."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FacecompError(f"cannot read config ({exc.strerror})", p) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise FacecompError("config file larger than 1 MiB", p)
    kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (UnicodeDecodeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise FacecompError(f"not a valid {kind} file ({exc})", p) from None
    if not isinstance(data, dict):
        raise FacecompError("config must be a table of options", p)
    if not flatten:
        return data
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def parse_set(items: Sequence[str] | None) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` (values converted later by the option table)."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FacecompError(f"--set expects NAME=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def resolve(
    options: Sequence[Option],
    args: argparse.Namespace | None = None,
    stored: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    config_name: str = "config",
) -> dict[str, Any]:
    """Merge defaults < stored < config < overrides (``--set``) < flags, converting and checking every value."""
    table = {o.name: o for o in options}
    result = {o.name: o.default for o in options}
    for source, where in ((stored, "stored options"), (config, config_name), (overrides, "--set")):
        for key, value in (source or {}).items():
            if key not in table:
                if source is stored:
                    continue  # options of another version are ignored, not fatal
                raise FacecompError(f"unknown option {key!r}", where)
            result[key] = table[key].convert(value, where)
    if args is not None:
        for opt in options:
            value = getattr(args, opt.name, None)
            if value is not None:
                result[opt.name] = opt.convert(value, opt.flag)
    return result
