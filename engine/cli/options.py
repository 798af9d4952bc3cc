"""Argparse wiring of the engine's option tables (engine/options.py): one flag per option and the help format.

Flags are read as text and default to None; the engine's ``resolve`` converts and checks them (once), so a bad
value is blamed on its flag and DFL's aliases work on the command line too.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from engine.options import Option, load_config, parse_set, resolve

__all__ = [
    "HelpFormatter", "Option", "add_options", "flag_values", "load_config", "option_type", "parse_set", "resolve",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None: option-table flags default to None and print their real default themselves."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _flag_help(opt: Option, default_text: str | None) -> str:
    text = opt.help
    names = [f"{k}={v}" for k, v in opt.aliases.items() if not k.isdigit() and k.lower() != str(v).lower()]
    codes = [k for k in opt.aliases if k.isdigit()]
    if names:
        text += " (also " + ", ".join(names) + ")"
    if codes:
        text += f" (or DFL's code {min(codes, key=int)}..{max(codes, key=int)}, in this order)"
    text += f" (default: {opt.default if default_text is None else default_text})"
    return text.replace("%", "%%")


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option], title: str = "options",
                defaults: Mapping[str, str] | None = None) -> None:
    """Add one flag per option; flags default to None so that only given flags override, and are converted by
    the engine's ``resolve``. ``defaults`` replaces the default shown in the help (per-kind defaults)."""
    if issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter):  # type: ignore[arg-type]
        parser.formatter_class = HelpFormatter
    group = parser.add_argument_group(title)
    for opt in options:
        text = _flag_help(opt, (defaults or {}).get(opt.name))
        if opt.kind is bool:
            group.add_argument(opt.flag, dest=opt.name, action=argparse.BooleanOptionalAction, default=None,
                               help=text)
        else:
            metavar = "{" + ",".join(map(str, opt.choices)) + "}" if opt.choices is not None else opt.name.upper()
            group.add_argument(opt.flag, dest=opt.name, default=None, metavar=metavar, help=text)


def flag_values(args: argparse.Namespace, options: Iterable[Option]) -> dict[str, Any]:
    """The flags of ``options`` given on the command line, as a plain mapping for ``resolve``."""
    return {o.name: getattr(args, o.name) for o in options if getattr(args, o.name, None) is not None}


def option_type(opt: Option) -> Any:
    """An argparse ``type`` for a single engine option outside a table (face type, sort method): the engine's
    conversion with its aliases and checks, so argparse reports a bad value against the flag."""

    def convert(value: str) -> Any:
        from engine.errors import FacecompError

        try:
            return opt.convert(value, opt.flag)
        except FacecompError as exc:
            raise argparse.ArgumentTypeError(exc.message.removeprefix(f"option {opt.name}: ")) from None

    convert.__name__ = opt.name
    return convert


def add_model_face_type(parser: argparse.ArgumentParser) -> None:
    """``--face-type`` of the verbs that run an exported model (merge, render, report): a .dfm's face type."""
    from engine.faces.facetype import face_type_option

    parser.add_argument("--face-type", default=None, type=option_type(face_type_option()), metavar="TYPE",
                        help="face type for a .dfm without metadata (default whole_face; DFL's wf, f, head ... too)")


def add_pass_files(parser: argparse.ArgumentParser, what: str) -> None:
    """``--passes`` and ``--exr-layout`` of merge and render: which EXR passes ``what`` writes, and how."""
    from engine.swap.outputs import DEFAULT_PASSES, EXR_LAYOUTS, PASSES

    parser.add_argument("--passes", default=",".join(DEFAULT_PASSES),
                        help=f"{what}: {','.join(PASSES)} (mask = facemask; rgba = the merged frame)")
    parser.add_argument("--exr-layout", choices=EXR_LAYOUTS, default="parts",
                        help="parts: image passes half + Cryptomatte/STMap 32-bit in a second EXR part; single: "
                             "one 32-bit part (for Fusion's Cryptomatte fuse, which reads no multi-part EXR)")


def add_face_selection(parser: argparse.ArgumentParser) -> None:
    """``--faces`` (``--face-select``) of merge and render: which faces of each frame are swapped."""
    parser.add_argument("--faces", "--face-select", dest="faces", default="all",
                        help="faces to swap: all, largest, or face names from the track (face0,face1)")
