"""Extraction on real media: face-type geometry, ordering, no-face input, profile and rotated faces,
metadata round trip, manual re-extraction, alignments import/export, EXR frames, debug images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.faces.align import ALIGN_POINTS, MEAN_FACE, transform_points, umeyama
from engine.faces.extract_faceset import extract_faces
from engine.faces.faceset import list_faces, read_face, read_meta
from engine.faces.facetype import FaceType
from engine.media.image_io import write_exr
from tests.conftest import assert_clean_error, run_facecomp


def _unit_square(landmarks: np.ndarray) -> np.ndarray:
    """Corners TL, TR, BR, BL of DFL's landmark unit square in frame pixels."""
    inv = np.linalg.inv(umeyama(landmarks[ALIGN_POINTS], MEAN_FACE))
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    return corners @ inv[:2, :2].T + inv[:2, 2]


@pytest.mark.parametrize("face_type", ["half_face", "midfull_face", "full_face", "whole_face", "head"])
def test_face_type_geometry(face_type: str, dst_frames: Path, tmp_path: Path) -> None:
    extract_faces(dst_frames / "00001.png", tmp_path, face_type=face_type, image_size=128)
    (face,) = list_faces(tmp_path)
    img, meta = read_face(face)
    assert img.shape == (128, 128, 3) and meta.face_type == face_type
    ft = FaceType.parse(face_type)
    g = _unit_square(meta.source_landmarks)
    side_l = np.linalg.norm(g[1] - g[0])
    crop = transform_points(np.array([[0, 0], [128, 0], [128, 128], [0, 128]], float), meta.image_to_face_mat,
                            invert=True)
    # DFL: output side = L * (1 + 2*sqrt(2)*padding)
    assert np.linalg.norm(crop[1] - crop[0]) == pytest.approx(side_l * (1 + 2 * np.sqrt(2) * ft.padding), rel=1e-3)
    up = (g[0] - g[3]) / np.linalg.norm(g[0] - g[3])  # towards the top of the face, length L per unit
    shift = np.dot(crop.mean(0) - g.mean(0), up) / side_l
    expected = {"whole_face": 0.07, "head": 0.5}.get(face_type, 0.0)
    assert shift == pytest.approx(expected, abs=0.01)
    # the stored aligned landmarks are the frame landmarks through the stored matrix
    np.testing.assert_allclose(transform_points(meta.source_landmarks, meta.image_to_face_mat), meta.landmarks,
                               atol=0.05)  # metadata keeps 4 decimals


def test_multi_face_order_and_names(multi_faces: Path) -> None:
    faces = [(p, read_meta(p)) for p in list_faces(multi_faces)]
    assert [p.name for p, _ in faces] == ["kit_with_rose_0.jpg", "kit_with_rose_1.jpg", "two_people_0.jpg",
                                          "two_people_1.jpg"]
    for stem in ("kit_with_rose", "two_people"):
        metas = [m for p, m in faces if p.name.startswith(stem)]
        areas = [(m.source_rect[2] - m.source_rect[0]) * (m.source_rect[3] - m.source_rect[1]) for m in metas]
        assert [m.face_index for m in metas] == [0, 1]
        assert areas[0] >= areas[1]  # largest first
        assert metas[0].source_filename == f"{stem}.jpg"


def test_max_faces_keeps_the_largest(data: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(data / "images" / "multi_face" / "group_t1.jpg", frames)
    report = extract_faces(frames, tmp_path / "one", image_size=64, max_faces=1)
    assert report.faces == 1
    everything = extract_faces(frames, tmp_path / "all", image_size=64)
    assert everything.faces == 6  # six people around the table
    rects = [read_meta(p).source_rect for p in list_faces(tmp_path / "all")]
    assert read_meta(list_faces(tmp_path / "one")[0]).source_rect == pytest.approx(rects[0])


def test_no_face_inputs_are_reported_not_errors(data: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    # dogs_animal_faces.jpg is left out: a magazine on the floor shows a (real, rotated) human face
    for name in ("eagle.jpg", "grass.jpg", "horses.jpg", "face_mask_object.jpg"):
        shutil.copy(data / "images" / "no_face" / name, frames / name)
    from engine.media.frames import open_frames
    from engine.media.image_io import write_image

    for f in open_frames(data / "video" / "noface_desk_objects.mp4"):
        if f.number in (1, 75, 150):
            write_image(frames / f"desk_{f.number:05d}.png", f.image)
    res = run_facecomp("extract", frames, tmp_path / "aligned", "--json")
    report = json.loads(res.out)
    assert report["faces"] == 0 and report["frames"] == 7
    assert len(report["frames_without_face"]) == 7
    assert list_faces(tmp_path / "aligned") == []


def test_profile_faces(data: Path, extractor) -> None:
    img = cv2.imread(str(data / "images" / "profile" / "hamilton_profile_f025.jpg"))
    faces = extractor.detect(img)
    assert faces, "the profile face was not found"
    f = faces[0]
    l, t, r, b = f.rect
    assert 330 < (l + r) / 2 < 530 and 30 < (t + b) / 2 < 330  # the performer, not the audience
    from engine.faces.pose import head_pose

    assert abs(head_pose(f.landmarks, img.shape[:2])[1]) > np.radians(45)  # a side view
    # a three-quarter view keeps the mesh landmarks
    wild = cv2.imread(str(data / "images" / "in_the_wild" / "000036.jpg"))
    assert extractor.detect(wild)[0].landmarker.startswith("facemesh")


@pytest.mark.parametrize("code", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180])
def test_rotated_frame(code: int, data: Path, extractor) -> None:
    img = cv2.imread(str(data / "images" / "in_the_wild" / "000002.jpg"))
    upright = extractor.detect(img)[0].landmarks
    rotated = cv2.rotate(img, code)
    faces = extractor.detect(rotated)
    assert faces
    h, w = img.shape[:2]
    x, y = faces[0].landmarks[:, 0], faces[0].landmarks[:, 1]
    back = np.stack([y, h - 1 - x], 1) if code == cv2.ROTATE_90_CLOCKWISE else np.stack([w - 1 - x, h - 1 - y], 1)
    iod = np.linalg.norm(upright[36] - upright[45])
    assert np.linalg.norm(back - upright, axis=1)[17:].mean() / iod < 0.05


def test_rolled_face_landmarks_follow_the_roll(data: Path, extractor) -> None:
    img = cv2.imread(str(data / "images" / "in_the_wild" / "000002.jpg"))
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 60, 1.0)
    faces = extractor.detect(cv2.warpAffine(img, m, (w, h)))
    upright = extractor.detect(img)[0].landmarks
    expected = upright @ m[:, :2].T + m[:, 2]
    iod = np.linalg.norm(upright[36] - upright[45])
    assert np.linalg.norm(faces[0].landmarks - expected, axis=1)[17:].mean() / iod < 0.06


def test_metadata_round_trip_and_debug(dst_frames: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in (1, 2):
        shutil.copy(dst_frames / f"{n:05d}.png", frames)
    run_facecomp("extract", frames, tmp_path / "aligned", "--image-size", "96", "--jpeg-quality", "90",
                 "--debug-dir", tmp_path / "debug")
    info = json.loads(run_facecomp("faceset", "info", "--json", tmp_path / "aligned").out)
    assert [i["source_filename"] for i in info] == ["00001.png", "00002.png"]
    for i in info:
        assert i["face_type"] == "whole_face" and i["size"] == 96 and i["source_frame"] in (1, 2)
        assert i["landmarker"] == "facemesh468+ibug68" and i["detector"]
        lm, src = np.array(i["landmarks"]), np.array(i["source_landmarks"])
        np.testing.assert_allclose(transform_points(src, np.array(i["image_to_face_mat"])), lm, atol=0.05)
        assert (lm > 0).all() and (lm < 96).all()
    debug = sorted(p.name for p in (tmp_path / "debug").iterdir())
    assert debug == ["00001.jpg", "00002.jpg"]
    drawn = cv2.imread(str(tmp_path / "debug" / "00001.jpg"))
    plain = cv2.imread(str(frames / "00001.png"))
    assert drawn.shape == plain.shape and np.abs(drawn.astype(int) - plain).mean() > 1
    # a second run refuses to mix with the old faces unless asked
    again = run_facecomp("extract", frames, tmp_path / "aligned", check=False)
    assert_clean_error(again, "--overwrite")


def test_alignments_export_import_and_manual(multi_faces: Path, data: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(data / "images" / "multi_face" / "two_people.jpg", frames)
    out = tmp_path / "aligned"
    run_facecomp("extract", frames, out, "--image-size", "64", "--export-alignments", tmp_path / "a.json")
    exported = json.loads((tmp_path / "a.json").read_text())
    assert list(exported) == ["two_people.jpg"] and len(exported["two_people.jpg"]) == 2
    assert len(exported["two_people.jpg"][0]["landmarks_2d"]) == 68
    # import: given landmarks are used as they are
    run_facecomp("extract", frames, tmp_path / "imported", "--image-size", "64", "--import-alignments",
                 tmp_path / "a.json")
    for a, b in zip(list_faces(out), list_faces(tmp_path / "imported"), strict=True):
        np.testing.assert_allclose(read_meta(a).source_landmarks, read_meta(b).source_landmarks, atol=0.01)
    # manual: re-extract the frame from a box (landmarks found inside it) and from landmarks (refined)
    face0, face1 = exported["two_people.jpg"]
    manual = {"two_people": [{"rect": face1["detected"]}, {"landmarks": face0["landmarks_2d"], "refine": True}]}
    (tmp_path / "m.json").write_text(json.dumps(manual))
    run_facecomp("extract", frames, out, "--image-size", "64", "--manual", tmp_path / "m.json")
    metas = [read_meta(p) for p in list_faces(out)]
    assert len(metas) == 2
    iod = np.linalg.norm(np.array(face1["landmarks_2d"])[36] - np.array(face1["landmarks_2d"])[45])
    err = np.linalg.norm(metas[0].source_landmarks - np.array(face1["landmarks_2d"]), axis=1)[17:].mean() / iod
    assert err < 0.05  # found again inside the given box
    assert metas[1].source_landmarks[30] == pytest.approx(np.array(face0["landmarks_2d"])[30], abs=0.1 * iod)


def test_exr_frames_use_their_colour_space(dst_frames: Path, tmp_path: Path) -> None:
    from engine.media import color

    img = cv2.imread(str(dst_frames / "00001.png"))
    linear = color.convert(img.astype(np.float32) / 255.0, color.MODEL_SPACE, "ACEScg")
    frames = tmp_path / "frames"
    write_exr(frames / "plate.1001.exr", {"R": linear[..., 2], "G": linear[..., 1], "B": linear[..., 0]},
              attributes={"oiio:ColorSpace": "ACEScg"})
    extract_faces(frames, tmp_path / "exr", image_size=64)
    extract_faces(dst_frames / "00001.png", tmp_path / "png", image_size=64)
    (a,), (b,) = list_faces(tmp_path / "exr"), list_faces(tmp_path / "png")
    ma, mb = read_meta(a), read_meta(b)
    assert ma.source_filename == "plate.1001.exr" and ma.source_frame == 1001
    np.testing.assert_allclose(ma.source_landmarks, mb.source_landmarks, atol=1.0)
    # the face pixels are display-referred like the PNG's, not dark linear values
    assert abs(cv2.imread(str(a)).mean() - cv2.imread(str(b)).mean()) < 4


def test_bad_inputs_give_clean_errors(data: Path, tmp_path: Path) -> None:
    assert_clean_error(run_facecomp("extract", tmp_path / "missing", tmp_path / "o", check=False), "missing")
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(data / "images" / "multi_face" / "two_people.jpg", frames)
    assert_clean_error(run_facecomp("extract", frames, tmp_path / "o", "--image-size", "8", check=False),
                       "--image-size")
    bad = tmp_path / "bad.json"
    bad.write_text('{"two_people.jpg": [{"rect": [10, 10, 5, 5]}]}')
    assert_clean_error(run_facecomp("extract", frames, tmp_path / "o", "--manual", bad, check=False), "bad.json")
    bad.write_text("{not json")
    assert_clean_error(run_facecomp("extract", frames, tmp_path / "o", "--import-alignments", bad, check=False),
                       "bad.json")
    bad.write_text('{"99999.png": [{"detected": [1, 1, 50, 50]}]}')
    assert_clean_error(run_facecomp("extract", frames, tmp_path / "o", "--import-alignments", bad, check=False),
                       "not in")
    (frames / "broken.jpg").write_text("not an image")
    assert_clean_error(run_facecomp("extract", frames, tmp_path / "o2", check=False), "broken.jpg")
