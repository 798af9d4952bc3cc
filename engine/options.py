"""DeepFaceLab-style options owned by the engine: one table per model kind / tool, given as flags
(``ae_dims`` -> ``--ae-dims``), in a TOML/JSON config file (``ae_dims = 256``) or as ``--set ae_dims=256``.

Precedence: built-in default < stored options (a resumed model) < config file < ``--set`` < command-line flags.
:func:`resolve` takes plain mappings (no argparse); every value is converted and checked here, once, and the
error names the source it came from (``--erode``, ``--set``, the config file). DFL's names for values
(``final`` for ``best``, ``wf`` for ``whole_face``) are an option's ``aliases``; DFL options facecomp does not
have are named with what to use instead (``retired``).
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import FacecompError

MAX_CONFIG_BYTES = 1 << 20
_TRUE = ("1", "true", "yes", "y", "on")
_FALSE = ("0", "false", "no", "n", "off")


@dataclass(frozen=True)
class Option:
    """One option with DeepFaceLab's name, default, allowed values and accepted aliases of those values."""

    name: str
    default: Any
    help: str
    choices: Sequence[Any] | None = None
    low: float | None = None
    high: float | None = None
    aliases: Mapping[str, Any] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def kind(self) -> type:
        """The value type (that of the default; str when the default is None)."""
        return str if self.default is None else type(self.default)

    def range_text(self) -> str:
        """The valid values in words: ``-400..400`` or ``one of a, b, c``."""
        if self.choices is not None:
            text = "one of " + ", ".join(map(str, self.choices))
            lowered = {str(c).lower() for c in self.choices}
            names = [k for k in self.aliases if not k.isdigit() and k.lower() not in lowered]
            codes = [k for k in self.aliases if k.isdigit()]
            if names:
                text += " (or " + ", ".join(names) + ")"
            if codes:
                text += f" (or DFL's code {min(codes, key=int)}..{max(codes, key=int)})"
            return text
        low = "" if self.low is None else f"{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}"
        return f"{low}..{high}" if low or high else f"a {self.kind.__name__}"

    def convert(self, value: Any, where: str | os.PathLike[str] | None = None) -> Any:
        """Coerce ``value`` to this option's type, map aliases and check the range; ``where`` names the source."""
        where = where or self.flag
        if self.aliases and (isinstance(value, str) or isinstance(value, int) and not isinstance(value, bool)):
            key = str(value).strip().lower().replace("_", "-")  # DFL's integer codes are aliases too
            folded = {str(k).lower().replace("_", "-"): v for k, v in self.aliases.items()}
            value = folded.get(key, value)
        kind = self.kind
        try:
            if kind is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in _TRUE + _FALSE:
                        raise ValueError(value)
                    value = low in _TRUE
                value = bool(value)
            elif kind is int:
                if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                value = int(value)
            elif kind is float:
                value = float(value)
            elif kind is str:
                value = str(value).strip()
        except (TypeError, ValueError):
            raise FacecompError(f"option {self.name}: {value!r} is not a {kind.__name__}", where) from None
        if self.choices is not None and value not in self.choices:
            raise FacecompError(f"option {self.name}: {value!r} not {self.range_text()}", where)
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise FacecompError(f"option {self.name}: {value} outside {self.range_text()}", where)
        return value


def unknown_option(key: str, known: Iterable[str], where: str | os.PathLike[str],
                   retired: Mapping[str, str] | None = None, what: str = "option") -> FacecompError:
    """The error for a key no table knows: DFL's options facecomp left out say what to use instead, typos get
    a "did you mean"."""
    if retired and key in retired:
        return FacecompError(f"{what} {key!r} (DeepFaceLab) is not available in facecomp: {retired[key]}", where)
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f" (known: {', '.join(names)})"
    return FacecompError(f"unknown {what} {key!r}{hint}", where)


def fixed_at_creation(name: str, stored: Any, asked: Any, where: str | os.PathLike[str]) -> FacecompError:
    """The one rule for an option fixed when a model is created (swap and XSeg models alike): asking another
    value on resume is an error that says what to do."""
    return FacecompError(f"{name} is fixed when a model is created (this model: {stored}, asked: {asked}); "
                         "train a new model folder to change it", where)


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
    flags: Mapping[str, Any] | None = None,
    stored: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_name: str = "config",
    retired: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults < stored < config < overrides (``--set``) < flags, converting and checking every value.

    ``flags`` maps option names to command-line values (None = not given); their errors name the flag.
    Stored keys this version does not know are ignored; unknown config / ``--set`` keys are an error.
    """
    table = {o.name: o for o in options}
    result = {o.name: o.default for o in options}
    for source, where in ((stored, "stored options"), (config, config_name), (overrides, "--set")):
        for key, value in (source or {}).items():
            if key not in table:
                if source is stored:
                    continue  # options of another version are ignored, not fatal
                raise unknown_option(key, table, where, retired)
            result[key] = table[key].convert(value, where)
    for name, value in (flags or {}).items():
        if value is not None and name in table:
            result[name] = table[name].convert(value, table[name].flag)
    return result


def describe(options: Iterable[Option]) -> list[dict[str, Any]]:
    """The table as plain data (name, flag, default, help, choices, range, aliases) for hosts and docs."""
    return [{"name": o.name, "flag": o.flag, "type": o.kind.__name__, "default": o.default, "help": o.help,
             "choices": list(o.choices) if o.choices is not None else None, "low": o.low, "high": o.high,
             "aliases": dict(o.aliases)} for o in options]
