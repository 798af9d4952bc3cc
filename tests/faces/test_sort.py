"""`facecomp sort`: every DFL method plus identity on a real faceset; renaming, trash, metadata kept."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.faces.faceset import list_faces, read_meta
from engine.faces.sort import METHODS
from tests.conftest import assert_clean_error, run_facecomp

DFL_METHODS = ["blur", "motion-blur", "face-yaw", "face-pitch", "face-source-rect-size", "hist", "hist-dissim",
               "brightness", "hue", "black", "origname", "oneface", "absdiff", "best", "best-faster"]


def _sort(folder: Path, method: str, *extra: object) -> dict:
    return json.loads(run_facecomp("sort", folder, "--by", method, "--json", *extra).out)


def _identities(folder: Path) -> list[tuple[str, int]]:
    return [(read_meta(p).source_filename, read_meta(p).face_index) for p in list_faces(folder)]


def test_all_dfl_methods_are_offered() -> None:
    assert set(DFL_METHODS) | {"identity"} == set(METHODS)


@pytest.mark.parametrize("method", ["blur", "motion-blur", "face-yaw", "face-pitch", "hist", "hist-dissim", "hue",
                                    "absdiff"])
def test_sort_renames_in_order_and_keeps_everything(method: str, mixed_faces: Path) -> None:
    before = sorted(_identities(mixed_faces))
    res = _sort(mixed_faces, method)
    names = [p.name for p in list_faces(mixed_faces)]
    assert res["kept"] == 14 and res["trashed"] == 0
    assert names == [f"{i:05d}.jpg" for i in range(14)]
    assert sorted(_identities(mixed_faces)) == before  # metadata travels with the pixels


def test_measured_orders(mixed_faces: Path) -> None:
    from engine.faces.sort_measures import black_count, hsv_means

    _sort(mixed_faces, "face-source-rect-size")
    areas = [(m.source_rect[2] - m.source_rect[0]) * (m.source_rect[3] - m.source_rect[1])
             for m in map(read_meta, list_faces(mixed_faces))]
    assert areas == sorted(areas, reverse=True)
    _sort(mixed_faces, "brightness")
    values = [hsv_means(cv2.imread(str(p)))[1] for p in list_faces(mixed_faces)]
    assert values == sorted(values, reverse=True)
    _sort(mixed_faces, "black")
    blacks = [black_count(cv2.imread(str(p))) for p in list_faces(mixed_faces)]
    assert blacks == sorted(blacks)
    _sort(mixed_faces, "origname")
    assert _identities(mixed_faces) == sorted(_identities(mixed_faces))


def test_pose_and_sharpness_orders_make_sense(mixed_faces: Path) -> None:
    from engine.faces.pose import head_pose
    from engine.faces.sort_measures import sharpness

    _sort(mixed_faces, "face-yaw")
    yaws = [head_pose(m.landmarks, m.size)[1] for m in map(read_meta, list_faces(mixed_faces))]
    assert yaws == sorted(yaws, reverse=True)
    face = cv2.imread(str(list_faces(mixed_faces)[0]))
    assert sharpness(face) > sharpness(cv2.GaussianBlur(face, (0, 0), 3))


def test_oneface_trashes_frames_with_several_faces(mixed_faces: Path) -> None:
    res = _sort(mixed_faces, "oneface")
    trash = mixed_faces.with_name(mixed_faces.name + "_trash")
    assert res["trashed"] == 4 and len(list_faces(trash)) == 4  # the two 2-face pictures
    assert {read_meta(p).source_filename for p in list_faces(trash)} == {"two_people.jpg", "kit_with_rose.jpg"}
    assert len(list_faces(mixed_faces)) == 10


@pytest.mark.parametrize("method", ["best", "best-faster"])
def test_best_keeps_the_target_count(method: str, mixed_faces: Path) -> None:
    res = _sort(mixed_faces, method, "--target-count", "5")
    assert res["kept"] == 5 and res["trashed"] == 9
    assert len(list_faces(mixed_faces)) == 5
    assert len(list_faces(mixed_faces.with_name(mixed_faces.name + "_trash"))) == 9


def test_identity_keeps_one_person(mixed_faces: Path, dst_faces: Path) -> None:
    reference = sorted(dst_faces.iterdir())[-1]  # a dst face that is not in the mixed set
    res = _sort(mixed_faces, "identity", "--reference", reference)
    kept = sorted(read_meta(p).source_filename for p in list_faces(mixed_faces))
    # the six dst frames, and the same man in two_people.jpg (Obama, beside Biden); not the streamer or Kit
    assert kept == [f"{i:05d}.png" for i in range(1, 7)] + ["two_people.jpg"]
    assert res["kept"] == 7 and res["trashed"] == 7


def test_embedder_separates_people(dst_faces: Path, src_faces: Path) -> None:
    from engine.faces.identity import SAME_PERSON, FaceEmbedder, distance

    emb = FaceEmbedder()
    vec = [emb.embed(cv2.imread(str(p)), read_meta(p).landmarks) for d in (dst_faces, src_faces)
           for p in sorted(d.iterdir())[:3]]
    v = np.array(vec)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    d = distance(v, v)
    assert d[:3, :3].max() < SAME_PERSON < d[:3, 3:].min()


def test_files_without_metadata_go_to_the_trash(mixed_faces: Path) -> None:
    (mixed_faces / "stray.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    res = _sort(mixed_faces, "hue")
    assert res["unreadable"] == ["stray.jpg"]
    assert (mixed_faces.with_name(mixed_faces.name + "_trash") / "stray.jpg").exists()


def test_bad_sort_inputs(tmp_path: Path, mixed_faces: Path) -> None:
    assert_clean_error(run_facecomp("sort", tmp_path / "nope", "--by", "blur", check=False), "nope")
    r = run_facecomp("sort", mixed_faces, "--by", "sharpest", check=False)
    assert r.code != 0 and "Traceback" not in r.err
    assert_clean_error(run_facecomp("sort", mixed_faces, "--by", "identity", check=False), "--reference")
    assert_clean_error(run_facecomp("sort", mixed_faces, "--by", "best", "--target-count", "0", check=False),
                       "--target-count")
    assert [p.name for p in list_faces(mixed_faces)][0] != "00000.jpg"  # nothing was renamed by failed runs


def test_embedding_without_landmarks_uses_the_aligned_mean_face(dst_faces: Path) -> None:
    from engine.faces.identity import FaceEmbedder
    from engine.faces.meanface import mean_landmarks

    emb = FaceEmbedder()
    p = sorted(dst_faces.iterdir())[0]
    face, meta = cv2.imread(str(p)), read_meta(p)
    mean = mean_landmarks("whole_face", meta.size)
    iod = np.linalg.norm(meta.landmarks[36] - meta.landmarks[45])
    assert np.linalg.norm(mean - meta.landmarks, axis=1)[17:].mean() < 0.2 * iod  # near the real points
    assert np.linalg.norm(emb.embed(face) - emb.embed(face, meta.landmarks)) < 0.2
