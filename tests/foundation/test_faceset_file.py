"""Faceset files: JSON metadata embedded in JPEG/PNG/EXR round-trips; damaged metadata is a clear error."""

from pathlib import Path

import numpy as np
import pytest

from engine.errors import FacecompError
from engine.faces.faceset import FaceMeta, decode_mask, encode_mask, read_face, read_meta, update_meta, write_face
from engine.media.image_io import read_image
from tests.conftest import assert_clean_error, run_facecomp


def _meta(size: int = 128) -> FaceMeta:
    rng = np.random.default_rng(0)
    lm = rng.uniform(10, size - 10, (68, 2))
    return FaceMeta(
        "whole_face",
        size,
        lm,
        "00001.png",
        1,
        [10, 20, 110, 140],
        lm * 2 + 5,
        np.array([[0.5, 0, -2.5], [0, 0.5, -2.5]]),
        xseg_polys=[{"type": "include", "points": [[1, 1], [50, 1], [20, 40]]}],
    )


@pytest.mark.parametrize("ext", ["jpg", "png", "exr"])
def test_round_trip(data: Path, tmp_path: Path, ext: str) -> None:
    img = read_image(data / "images" / "in_the_wild" / "000001.jpg")[:128, :128]
    meta = _meta()
    meta.xseg_mask = encode_mask(np.tri(128, dtype=np.float32))
    f = tmp_path / f"face.{ext}"
    write_face(f, img, meta)
    back_img, back = read_face(f)
    assert back_img.shape == (128, 128, 3)
    assert np.allclose(back.landmarks, meta.landmarks, atol=1e-3)
    assert np.allclose(back.image_to_face_mat, meta.image_to_face_mat)
    assert back.xseg_polys == meta.xseg_polys
    assert np.array_equal(decode_mask(back.xseg_mask) > 0.5, np.tri(128) > 0.5)
    # a big metadata update (mask > one JPEG segment) keeps the pixels and the metadata
    meta.extra["notes"] = "x" * 150_000
    update_meta(f, meta)
    assert read_meta(f).extra["notes"] == meta.extra["notes"]
    assert np.array_equal(read_face(f)[0], back_img)


def test_damaged_and_missing_metadata(data: Path, tmp_path: Path) -> None:
    plain = data / "images" / "in_the_wild" / "000001.jpg"
    with pytest.raises(FacecompError, match="no facecomp metadata"):
        read_meta(plain)
    f = tmp_path / "f.jpg"
    write_face(f, read_image(plain), _meta())
    raw = f.read_bytes().replace(b'"landmarks":[[', b'"landmarks":[{[', 1)
    f.write_bytes(raw)
    with pytest.raises(FacecompError, match="damaged"):
        read_meta(f)
    evil = _meta()
    evil.source_filename = "../../etc/passwd"
    write_face(tmp_path / "e.png", read_image(plain), _meta())
    update_meta(tmp_path / "e.png", evil)
    with pytest.raises(FacecompError, match="outside"):
        read_meta(tmp_path / "e.png")
    res = run_facecomp("faceset", "info", plain, check=False)
    assert_clean_error(res, "000001.jpg")
