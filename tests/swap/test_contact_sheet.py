"""``merge --preview 2,5,9`` (one contact sheet) and ``merge --wedge`` (a grid of settings side by side)."""

from __future__ import annotations

import numpy as np

from engine.media.image_io import read_image
from tests.conftest import assert_clean_error, run_facecomp


def _merge(models, shot, out, *args, check=True):
    return run_facecomp("merge", "--model", models["tiny"], "--frames", shot, "--out", out / "merged",
                        "--preview-out", out / "sheets", *args, check=check)


def _cells(sheet: np.ndarray, count: int) -> list[np.ndarray]:
    """The cells of a one-row wedge sheet (all cells share the faces' crop, so they are equally wide)."""
    width = (sheet.shape[1] + 4) // count - 4
    return [sheet[:-4, i * (width + 4): i * (width + 4) + width].astype(np.float32) for i in range(count)]


def test_preview_of_several_frames_is_one_contact_sheet(models, shot, tmp_path):
    res = _merge(models, shot, tmp_path, "--preview", "2,5,9")
    sheet = read_image(res.out.strip())
    assert res.out.strip().endswith("contact_sheet.png") and sheet.shape[0] == 3 * (270 + 4)
    assert not (tmp_path / "merged").exists()  # a preview writes no merged frames


def test_wedge_grid_shows_each_combination(models, shot, tmp_path):
    res = _merge(models, shot, tmp_path, "--preview", "3", "--wedge", "erode=0,60", "blur=0,0", "--mode", "overlay")
    sheet = read_image(res.out.strip())
    plate, *variants = _cells(sheet, 5)
    assert sheet.shape[0] == 320 + 4 and "1 frame(s) x 4 variants" in res.err
    assert np.abs(variants[0] - variants[1]).mean() < 0.5  # blur 0 twice: the same picture
    assert np.abs(variants[0] - variants[2]).mean() > 1.0  # erode 60 shrinks the swapped area
    assert np.abs(plate - variants[0]).mean() > 1.0
    # DFL's option names work, wrong values are refused before anything is rendered
    _merge(models, shot, tmp_path, "--preview", "3", "--wedge", "erode_mask_modifier=0,10")
    bad = _merge(models, shot, tmp_path / "bad", "--wedge", "erode=0,900", check=False)
    assert_clean_error(bad, "--wedge erode")
    assert "outside -400..400" in bad.err and not (tmp_path / "bad").exists()
