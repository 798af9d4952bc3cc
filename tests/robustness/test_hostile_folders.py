"""Files and folders from someone else (issue 19): damaged face metadata and model.json are clean errors and
skipped where a verb skips bad faces; importing DFL faces never replaces faces without --force (nor "imports"
facecomp faces); merge removes only facecomp's own temporary files. Each test failed before issue 19.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import pytest

from engine.errors import FacecompError
from tests.robustness import hostile
from tests.robustness.conftest import assert_fails_cleanly, cli
from tests.robustness.test_hostile_files import DFL_ALIGNED


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def damaged_faces(src_faces: Path, tmp_path: Path) -> dict[str, Path]:
    from engine.faces.faceset import _payload, list_faces, read_face

    img, meta = read_face(list_faces(src_faces)[0])
    plain_jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    plain_png = cv2.imencode(".png", img)[1].tobytes()
    files = hostile.damaged_face_metadata(plain_jpeg, plain_png, _payload(meta))
    return hostile.write_all(tmp_path / "damaged", files)


# ---- 4. damaged metadata ------------------------------------------------------------------------------------

def test_damaged_face_metadata_is_a_clean_error_naming_the_file(damaged_faces):
    from engine.faces.faceset import read_meta

    for name, path in damaged_faces.items():
        with pytest.raises(FacecompError) as info:
            read_meta(path)
        assert name in str(info.value) and "\n" not in str(info.value), (name, str(info.value)[:300])


def test_sort_skips_damaged_faces(damaged_faces, src_faces, tmp_path):
    from engine.faces.faceset import list_faces

    folder = tmp_path / "faceset"
    folder.mkdir()
    for good in list_faces(src_faces)[:4]:
        shutil.copy(good, folder / good.name)
    for path in damaged_faces.values():
        shutil.copy(path, folder / f"zz_{path.name}")
    res = cli("sort", folder, "--by", "face-yaw", "--dry-run")
    assert res.code == 0 and "Traceback" not in res.err + res.out, res.err[-2000:]


@pytest.mark.parametrize("text", [hostile.deep_json(),
                                  '{"format": "facecomp-model", "version": 1e400, "kind": "saehd"}'],
                         ids=["nested", "version_1e400"])
def test_damaged_model_json_is_a_clean_error(tmp_path, text):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text(text)
    assert_fails_cleanly(cli("export", "--model", folder, "--out", tmp_path / "m.onnx"), "model.json")


# ---- 6. import-dfl faceset never replaces faces without --force ---------------------------------------------

def test_import_dfl_faceset_keeps_existing_faces_without_force(tmp_path):
    if not DFL_ALIGNED.is_dir():
        pytest.skip("../shared/data/dfl_samples is not beside the checkout")
    dst = tmp_path / "aligned"
    assert cli("import-dfl", "faceset", DFL_ALIGNED, dst).code == 0
    before = _digests(dst)
    assert before
    assert_fails_cleanly(cli("import-dfl", "faceset", DFL_ALIGNED, dst), "aligned")
    assert _digests(dst) == before
    assert cli("import-dfl", "faceset", DFL_ALIGNED, dst, "--force").code == 0


def test_import_dfl_faceset_of_facecomp_faces_says_so_once(src_faces, tmp_path):
    dst = tmp_path / "not_made"
    res = cli("import-dfl", "faceset", src_faces, dst)
    assert_fails_cleanly(res, str(src_faces))
    assert "already facecomp faces" in res.err
    assert len([line for line in res.err.splitlines() if line.strip()]) == 1, res.err[-2000:]
    assert not dst.exists()


# ---- 7. merge removes only facecomp's own temporary files ---------------------------------------------------

def test_merge_keeps_the_users_hidden_files(tiny_model, dst_frames, tmp_path):
    from engine import atomic

    frames = tmp_path / "plate"
    frames.mkdir()
    shutil.copy(dst_frames / "00001.png", frames / "00001.png")
    out = tmp_path / "merged"
    out.mkdir()
    users = {".notes.tmp": b"my notes", ".backup.tmp.exr": b"my backup", ".x.tmp.png": b"mine"}
    for name, data in users.items():
        (out / name).write_bytes(data)
    ours = out / ".00001.png.k3j4h5g6.facecomp-tmp.png"  # what a killed merge leaves behind
    ours.write_bytes(b"half")
    assert atomic.is_temporary(ours) and not any(atomic.is_temporary(out / n) for n in users)
    res = cli("merge", "--model", tiny_model[1], "--frames", frames, "--out", out)
    assert res.code == 0, res.err[-2000:]
    assert {n: (out / n).read_bytes() for n in users if (out / n).exists()} == users
    assert not ours.exists()
