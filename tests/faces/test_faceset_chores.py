"""DFL's faceset chores: pack/unpack (a safe zip + index) and original names back after a sort."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np

from engine.faces.faceset import list_faces, read_meta
from tests.conftest import assert_clean_error, run_facecomp


def test_pack_unpack_round_trip_and_refusals(src_faces, tmp_path):
    folder = tmp_path / "aligned"
    shutil.copytree(src_faces, folder)
    before = {p.name: p.read_bytes() for p in list_faces(folder)}
    res = run_facecomp("faceset", "pack", folder, "--remove")
    assert f"{len(before)} faces packed" in res.out
    pack = folder / "faceset.zip"
    assert list_faces(folder) == [] and zipfile.ZipFile(pack).testzip() is None
    run_facecomp("faceset", "unpack", pack)
    assert {p.name: p.read_bytes() for p in list_faces(folder)} == before
    assert_clean_error(run_facecomp("faceset", "unpack", pack, check=False), "--overwrite")
    # a pack whose index lies about a face, or that smuggles a path, is refused before anything is written
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(evil, "w") as dst:
        index = json.loads(src.read("facecomp-faceset.json"))
        index["faces"][0]["name"] = "../escape.jpg"
        dst.writestr("facecomp-faceset.json", json.dumps(index))
        dst.writestr("../escape.jpg", b"x")
    assert_clean_error(run_facecomp("faceset", "unpack", evil, "--out", tmp_path / "o", check=False),
                       "not a plain face file name")
    assert not (tmp_path / "o").exists() and not (tmp_path / "escape.jpg").exists()


def test_restore_names_after_sort(src_faces, tmp_path):
    folder = tmp_path / "aligned"
    shutil.copytree(src_faces, folder)
    original = sorted(p.name for p in list_faces(folder))
    run_facecomp("sort", folder, "--by", "hist")
    assert sorted(p.name for p in list_faces(folder)) != original
    res = run_facecomp("faceset", "restore-names", folder)
    assert f"{len(original)} faces renamed" in res.out
    names = sorted(p.name for p in list_faces(folder))
    assert names == original
    for p in list_faces(folder):
        assert p.name.startswith(read_meta(p).source_filename.rsplit(".", 1)[0])


def test_faceset_report_flags_the_faces_to_look_at_first(src_faces, multi_faces, data, tmp_path):
    import cv2

    from engine.faces.extract_faceset import extract_faces
    from engine.faces.faceset import read_face, write_face

    folder = tmp_path / "aligned"
    shutil.copytree(src_faces, folder)
    for p in list_faces(multi_faces):
        shutil.copy(p, folder / p.name)
    extract_faces(data / "images" / "profile", tmp_path / "profile", face_type="whole_face", image_size=256)
    for p in list_faces(tmp_path / "profile"):
        shutil.copy(p, folder / p.name)
    image, meta = read_face(list_faces(src_faces)[5])
    meta.source_filename = "blurred.png"
    write_face(folder / "blurred_0.jpg", cv2.GaussianBlur(image, (0, 0), 6), meta)
    out = tmp_path / "report.html"
    report = json.loads(run_facecomp("faceset", "report", folder, "--out", out, "--json").out)
    reasons = {item["file"]: item["reasons"] for item in report["look_first"]}
    assert "blurry" in reasons["blurred_0.jpg"]
    assert all("extreme pose" in reasons[f"hamilton_profile_f0{n}_0.jpg"] for n in ("25", "40"))
    multi = [p.name for p in list_faces(multi_faces)]
    assert all("several faces in its frame" in reasons[n] for n in multi)
    assert all("outlier identity" in reasons[n] for n in multi if n.startswith("two_people"))
    assert not any(n.startswith("twitch") and "outlier identity" in r for n, r in reasons.items())
    counts = report["counts"]
    assert counts["faces"] == len(list_faces(folder)) and counts["flags"]["several faces in its frame"] == 4
    page = out.read_text()
    assert page.count("<img") >= counts["faces"] and "Look at these first" in page and "blurred_0.jpg" in page


def test_landmarks_debug_images_after_extraction(src_faces, data, tmp_path):
    from engine.media.image_io import read_image

    out = tmp_path / "debug"
    res = run_facecomp("faceset", "debug-landmarks", src_faces, "--out", out, "--frames", data / "src_frames")
    faces = list_faces(src_faces)
    assert f"{len(faces)} faces and {len(faces)} frames drawn" in res.out
    assert sorted(p.name for p in out.glob("*_debug.jpg")) == sorted(f"{p.stem}_debug.jpg" for p in faces)
    drawn, plain = read_image(out / f"{faces[0].stem}_debug.jpg").astype(int), read_image(faces[0]).astype(int)
    yellow = (drawn[..., 2] > 200) & (drawn[..., 1] > 200) & (drawn[..., 0] < 80)
    assert yellow.sum() > 200 and np.median(np.abs(drawn - plain)[~yellow]) <= 2  # landmarks drawn, face kept
    frame = read_image(out / "frames" / f"{read_meta(faces[0]).source_filename.rsplit('.', 1)[0]}.jpg")
    assert frame.shape == read_image(data / "src_frames" / read_meta(faces[0]).source_filename).shape
    assert sorted(p.name for p in src_faces.iterdir()) == sorted(p.name for p in faces)  # faceset untouched
