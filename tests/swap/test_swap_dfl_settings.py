"""Merge settings files in DeepFaceLab's terms: its mode codes and keys, its options facecomp does not have named
with what to use instead, values checked once when the settings are created."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import FacecompError
from engine.swap.settings import MERGE_OPTIONS, FrameSettings, MergeSettings


def test_dfl_codes_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "dfl.toml"
    path.write_text("mode = 3\nmask_mode = 4\ncolor_transfer_mode = 1\nsharpen_mode = 2\nerode_mask_modifier = 12\n"
                    "blursharpen_amount = -5\n[[frames]]\nrange = \"5-9\"\nmode = \"0\"\nmask_mode = \"xseg-dst\"\n")
    fs = FrameSettings.load(path)
    s = fs.for_frame(1)
    assert (s.mode, s.mask_mode, s.color_transfer, s.sharpen_mode, s.erode, s.sharpen_amount) == (
        "seamless", "learned-prd*learned-dst", "rct", "gaussian", 12, -5)
    assert (fs.for_frame(6).mode, fs.for_frame(6).mask_mode) == ("original", "XSeg-dst")


def test_dfl_options_facecomp_lacks_and_typos(tmp_path: Path) -> None:
    with pytest.raises(FacecompError, match="super_resolution_power' .DeepFaceLab. is not available in facecomp: "
                                            ".*sharpen_mode / sharpen_amount"):
        FrameSettings.create({"super_resolution_power": 10})
    with pytest.raises(FacecompError, match=r"^settings: unknown merge option 'blurr'; did you mean blur\?"):
        FrameSettings.create({"blurr": 10})
    with pytest.raises(FacecompError, match=r"^--erode: option erode: 1000 outside -400..400$"):
        FrameSettings.create({}, {"erode": "1000"})
    with pytest.raises(FacecompError, match=r"^settings: option mode: '9' not one of .*code 0..6"):
        FrameSettings.create({"mode": 9})


def test_values_are_checked_once_and_typed(tmp_path: Path) -> None:
    fs = FrameSettings.create({"erode": "15", "frames": [{"range": "3", "blur": 7}]}, {"blur": "30"})
    assert fs.defaults == {"erode": 15} and fs.flags == {"blur": 30}  # converted at creation
    assert fs.for_frame(3) == MergeSettings(erode=15, blur=30)
    assert fs.with_flags(None) is fs
    assert MergeSettings() == MergeSettings(**{o.name: o.default for o in MERGE_OPTIONS})
