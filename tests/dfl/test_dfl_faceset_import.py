"""`facecomp import-dfl faceset`: the DFL sample faceset converts field by field; bad files are skipped whole."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.dfl.dfljpg import read_dfljpg, strip_app15
from engine.faces.faceset import decode_mask, list_faces, read_face, read_meta
from tests.conftest import assert_clean_error, run_facecomp
from tests.dfl.conftest import make_dfljpg, sample_meta, strip_dfl


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def imported(samples, tmp_path_factory) -> tuple[Path, dict]:
    before = _digest(samples / "aligned")
    out = tmp_path_factory.mktemp("dfl_faces") / "aligned"
    res = run_facecomp("import-dfl", "faceset", samples / "aligned", out, "--json")
    assert _digest(samples / "aligned") == before  # originals untouched
    return out, json.loads(res.out)


def test_summary_counts(imported):
    out, summary = imported
    assert summary["imported"] == 6 and summary["skipped"] == []
    assert summary["with_polys"] == 3 and summary["with_mask"] == 2
    assert [p.name for p in list_faces(out)] == summary["files"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_every_field_maps(samples, imported):
    out, _ = imported
    for src in sorted((samples / "aligned").glob("*.jpg")):
        ref = sample_meta(samples, src.name)
        img, meta = read_face(out / src.name)
        assert meta.face_type == ref["face_type"] == "whole_face"
        assert meta.size == 256 and img.shape == (256, 256, 3)
        np.testing.assert_allclose(meta.landmarks, ref["landmarks"], atol=1e-4)
        np.testing.assert_allclose(meta.source_landmarks, ref["source_landmarks"], atol=1e-4)
        np.testing.assert_allclose(meta.image_to_face_mat, ref["image_to_face_mat"], atol=1e-4)
        assert meta.source_rect == [float(v) for v in ref["source_rect"]]
        assert meta.source_filename == ref["source_filename"]
        assert meta.source_frame == int(Path(ref["source_filename"]).stem)
        assert meta.face_index == 0 and meta.eyebrows_expand_mod == 1.0
        polys = ref.get("seg_ie_polys", {}).get("polys", [])
        assert len(meta.xseg_polys or []) == len(polys)
        for ours, theirs in zip(meta.xseg_polys or [], polys, strict=True):
            assert ours["type"] == ("include" if theirs["type"] == 1 else "exclude")
            np.testing.assert_allclose(ours["points"], theirs["pts"], atol=1e-6)
        if "xseg_mask" in ref:
            dfl_mask = cv2.imdecode(ref["xseg_mask"], cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(np.round(decode_mask(meta.xseg_mask) * 255).astype(np.uint8), dfl_mask)
        else:
            assert meta.xseg_mask is None


def test_jpeg_pixels_are_kept_byte_for_byte(samples, imported):
    out, _ = imported
    for src in sorted((samples / "aligned").glob("*.jpg")):
        original = src.read_bytes()
        ours = (out / src.name).read_bytes()
        # the entropy-coded scan is the same bytes: nothing was re-encoded
        assert ours[ours.index(b"\xff\xda"):] == original[original.index(b"\xff\xda"):]
        assert np.array_equal(cv2.imread(str(out / src.name)), cv2.imread(str(src)))
        assert b"\xff\xef" not in ours[: ours.index(b"\xff\xda")]  # DFL's segment is gone


def _write(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


def test_bad_files_are_listed_and_skipped_whole(samples, tmp_path):
    src = tmp_path / "dfl"
    src.mkdir()
    good = (samples / "aligned" / "000010_0.jpg").read_bytes()
    plain = strip_dfl(good)
    marker = tmp_path / "PWNED"

    class RunsCommand:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {marker}",))

    meta = sample_meta(samples, "000010_0.jpg")
    no_landmarks = {k: v for k, v in meta.items() if k != "landmarks"}
    bad_polys = {**meta, "seg_ie_polys": {"polys": [{"type": 7, "pts": np.zeros((3, 2), np.float32)}]}}
    _write(src, "000010_0.jpg", good)
    _write(src, "plain.jpg", plain)  # not DFL: no APP15
    _write(src, "evil.jpg", make_dfljpg(plain, pickle.dumps({"face_type": RunsCommand()}, protocol=3)))
    _write(src, "cut.jpg", make_dfljpg(plain, pickle.dumps(meta, protocol=4)[:-200]))
    _write(src, "nolm.jpg", make_dfljpg(plain, pickle.dumps(no_landmarks, protocol=4)))
    _write(src, "badpoly.jpg", make_dfljpg(plain, pickle.dumps(bad_polys, protocol=4)))
    _write(src, "trunc.jpg", good[:5000])
    _write(src, "notes.txt", b"hello")
    dst = tmp_path / "out"
    res = run_facecomp("import-dfl", "faceset", src, dst, "--json")
    summary = json.loads(res.out)
    reasons = {s["file"]: s["reason"] for s in summary["skipped"]}
    assert summary["files"] == ["000010_0.jpg"]
    assert set(reasons) == {"plain.jpg", "evil.jpg", "cut.jpg", "nolm.jpg", "badpoly.jpg", "trunc.jpg", "notes.txt"}
    assert "no APP15" in reasons["plain.jpg"] and "not allowed" in reasons["evil.jpg"]
    assert "damaged" in reasons["cut.jpg"] and "no landmarks" in reasons["nolm.jpg"]
    assert "type 7" in reasons["badpoly.jpg"] and "DFLJPG" in reasons["notes.txt"]
    assert sorted(p.name for p in dst.iterdir()) == ["000010_0.jpg"]  # nothing half-converted
    assert not marker.exists()
    assert "skipped evil.jpg" in res.err


def test_older_forms_and_optional_fields(samples, tmp_path):
    """List-form seg_ie_polys, a JPEG-encoded xseg_mask, eyebrows_expand_mod, no face_type, protocol 3."""
    good = (samples / "aligned" / "000023_0.jpg").read_bytes()
    meta = sample_meta(samples, "000023_0.jpg")
    pts = meta["seg_ie_polys"]["polys"][0]["pts"]
    hole = np.array([[100, 100], [120, 100], [110, 120]], np.float32)
    meta["seg_ie_polys"] = [(0, hole), (1, pts)]
    mask = np.zeros((256, 256), np.uint8)
    cv2.circle(mask, (128, 128), 80, 255, -1)
    meta["xseg_mask"] = np.frombuffer(cv2.imencode(".jpg", mask, [cv2.IMWRITE_JPEG_QUALITY, 100])[1], np.uint8)
    meta["eyebrows_expand_mod"] = 1.5
    del meta["face_type"]
    meta["source_filename"] = "shot_a.0042.png"
    meta["unknown_future_key"] = [1, 2, 3]
    src = tmp_path / "dfl"
    src.mkdir()
    _write(src, "shot_a.0042_1.jpg", make_dfljpg(strip_dfl(good), pickle.dumps(meta, protocol=3)))
    dst = tmp_path / "out"
    run_facecomp("import-dfl", "faceset", src, dst)
    got = read_meta(dst / "shot_a.0042_1.jpg")
    assert got.face_type == "full_face"  # DFL's default when the key is missing
    assert [p["type"] for p in got.xseg_polys] == ["include", "exclude"]  # includes first, as DFL draws
    np.testing.assert_allclose(got.xseg_polys[1]["points"], hole)
    assert got.eyebrows_expand_mod == 1.5 and got.source_frame == 42 and got.face_index == 1
    m = decode_mask(got.xseg_mask)
    assert m.shape == (256, 256) and abs(m[128, 128] - 1) < 0.02 and m[5, 5] < 0.02


def test_reader_and_strip_keep_other_bytes(samples):
    path = samples / "aligned" / "000031_0.jpg"
    dfl = read_dfljpg(path)
    assert dfl.segment[0] == 20 and dfl.meta["face_type"] == "whole_face"
    assert strip_app15(dfl.data, path) == strip_dfl(dfl.data)


def test_cli_errors(samples, tmp_path):
    assert_clean_error(run_facecomp("import-dfl", "faceset", tmp_path / "nope", tmp_path / "o", check=False),
                       "does not exist")
    copy = tmp_path / "aligned"
    shutil.copytree(samples / "aligned", copy)
    res = run_facecomp("import-dfl", "faceset", copy, copy, check=False)
    assert_clean_error(res, "never modified")
    assert _digest(copy) == _digest(samples / "aligned")


def test_mask_and_polygon_forms():
    from engine.dfl.faceset_import import convert_mask, convert_polys

    raw = np.zeros((16, 16, 1), np.float32)
    raw[4:9] = 1.0
    assert np.array_equal(decode_mask(convert_mask(raw, 16)), raw[..., 0])  # a raw HxWx1 float mask
    with pytest.raises(ValueError, match="not a PNG or JPEG"):
        convert_mask(np.frombuffer(b"\x89PNG not really", np.uint8), 16)
    pts = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
    assert convert_polys({"polys": []}) is None and convert_polys([]) is None
    assert convert_polys({"polys": [{"type": 0, "pts": pts}, {"type": 1, "pts": np.zeros((0, 2))}]}) == [
        {"type": "exclude", "points": pts.tolist()}]
    with pytest.raises(ValueError, match="non-finite"):
        convert_polys([(1, np.array([[0, np.nan]]))])
