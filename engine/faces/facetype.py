"""DeepFaceLab's face types and their short names (``wf`` = whole_face ...), in DFL's order."""

from __future__ import annotations

from enum import IntEnum

from engine.errors import FacecompError
from engine.options import Option


class FaceType(IntEnum):
    """Face types with DeepFaceLab's integer codes (the ordering matters: ``<= FULL_NO_ALIGN`` etc.)."""

    HALF = 0
    MID_FULL = 1
    FULL = 2
    FULL_NO_ALIGN = 3
    WHOLE_FACE = 4
    HEAD = 10
    HEAD_NO_ALIGN = 20
    MARK_ONLY = 100

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def short(self) -> str:
        """DFL's short name (``wf``); the label for types without one."""
        return _SHORT_OF.get(self, self.label)

    @property
    def padding(self) -> float:
        """Padding of the aligned square around the unit landmark square (dfl.md §1)."""
        return _PADDING[self]

    @property
    def remove_align(self) -> bool:
        return self in (FaceType.FULL_NO_ALIGN, FaceType.HEAD_NO_ALIGN)

    @classmethod
    def parse(cls, value: str | int | FaceType) -> FaceType:
        """From a label (``whole_face``), DFL's short name (``wf``) or code; clear error otherwise.

        >>> FaceType.parse("wf").label
        'whole_face'
        """
        if isinstance(value, FaceType):
            return value
        if isinstance(value, int):
            return cls(value)
        key = str(value).strip().lower().replace("-", "_")
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise FacecompError(f"unknown face type {value!r}; use one of {', '.join(CHOICES)}")


_LABELS = {
    FaceType.HALF: "half_face",
    FaceType.MID_FULL: "midfull_face",
    FaceType.FULL: "full_face",
    FaceType.FULL_NO_ALIGN: "full_face_no_align",
    FaceType.WHOLE_FACE: "whole_face",
    FaceType.HEAD: "head",
    FaceType.HEAD_NO_ALIGN: "head_no_align",
    FaceType.MARK_ONLY: "mark_only",
}
_PADDING = {
    FaceType.HALF: 0.0,
    FaceType.MID_FULL: 0.0675,
    FaceType.FULL: 0.2109375,
    FaceType.FULL_NO_ALIGN: 0.2109375,
    FaceType.WHOLE_FACE: 0.40,
    FaceType.HEAD: 0.70,
    FaceType.HEAD_NO_ALIGN: 0.70,
    FaceType.MARK_ONLY: 0.0,
}
_SHORT = {"h": FaceType.HALF, "mf": FaceType.MID_FULL, "f": FaceType.FULL, "wf": FaceType.WHOLE_FACE,
          "head": FaceType.HEAD, "half": FaceType.HALF, "mid_full": FaceType.MID_FULL, "full": FaceType.FULL}
_BY_NAME = {**{ft.label: ft for ft in FaceType}, **_SHORT}
_SHORT_OF = {FaceType.HALF: "h", FaceType.MID_FULL: "mf", FaceType.FULL: "f", FaceType.WHOLE_FACE: "wf",
             FaceType.HEAD: "head"}

# what the CLI offers (DFL's extractor types plus the DESIGN names)
CHOICES = ("half_face", "midfull_face", "full_face", "whole_face", "head")
SHORT_CHOICES = ("h", "mf", "f", "wf", "head")


def aliases(to_short: bool) -> dict[str, str]:
    """Every accepted name of the offered face types (labels, DFL's short names, half/full ...) -> the short
    name (``to_short``) or the label: the one set of names every verb accepts."""
    offered = {FaceType.parse(c) for c in CHOICES}
    return {name: ft.short if to_short else ft.label for name, ft in _BY_NAME.items() if ft in offered}


def face_type_option(default: str = "whole_face", help: str = "DFL face type") -> Option:
    """The face-type option of the verbs that take one (extract, faceset resize, xseg, merge, render): labels,
    with every DFL name accepted."""
    return Option("face_type", default, help, choices=CHOICES, aliases=aliases(to_short=False))
