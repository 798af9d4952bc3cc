"""One colour-space rule for every verb: the given working space, else the EXR's oiio:ColorSpace, else ACEScg."""

from __future__ import annotations

import numpy as np
import pytest

from engine.media import color
from engine.media.image_io import read_image, write_exr
from tests.conftest import run_facecomp

REC709 = "Linear Rec.709 (sRGB)"


@pytest.fixture(scope="module")
def rec709_plates(exr_plate, tmp_path_factory):
    """Frames 1001-1002 of the ACEScg plate converted to linear Rec.709: one copy tagged, one untagged."""
    out = {}
    for tagged in (True, False):
        d = tmp_path_factory.mktemp("tagged" if tagged else "untagged")
        for n in (1001, 1002):
            img = color.convert(read_image(exr_plate / f"plate.{n}.exr"), "ACEScg", REC709)
            write_exr(d / f"plate.{n}.exr", {"R": img[..., 2], "G": img[..., 1], "B": img[..., 0]},
                      attributes={"oiio:ColorSpace": REC709} if tagged else None)
        out[tagged] = d
    return out


def _render(model, plate, out, *space):
    run_facecomp("render", "--model", model, "--plate", plate / "plate.%04d.exr", "--frames", "1001",
                 "--out", out / "fs.%04d.exr", "--passes", "rgba", *space)
    return read_image(out / "fs.1001.exr")


def test_exr_attribute_then_acescg_then_given(models, rec709_plates, tmp_path):
    tagged, untagged = rec709_plates[True], rec709_plates[False]
    by_attribute = _render(models["tiny"], tagged, tmp_path / "a")
    given = _render(models["tiny"], untagged, tmp_path / "b", "--working-space", REC709)
    np.testing.assert_array_equal(by_attribute, given)  # the file's own tag is honoured as if given
    assumed = _render(models["tiny"], untagged, tmp_path / "c")
    as_acescg = _render(models["tiny"], untagged, tmp_path / "d", "--working-space", "ACEScg")
    np.testing.assert_array_equal(assumed, as_acescg)  # untagged EXR: ACEScg, as documented
    assert np.abs(assumed - given).max() > 1e-3
    overridden = _render(models["tiny"], tagged, tmp_path / "e", "--working-space", "ACEScg")
    np.testing.assert_array_equal(overridden, as_acescg)  # a given space wins over the tag (the hosts send one)
