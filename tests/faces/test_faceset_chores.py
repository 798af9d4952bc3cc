"""DFL's faceset chores: pack/unpack (a safe zip + index) and original names back after a sort."""

from __future__ import annotations

import json
import shutil
import zipfile

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
