"""Every `facecomp xseg` command on real faces of ../shared/data (the dst video's first 40 frames)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from engine.faces.faceset import (
    _jpeg_read,
    _jpeg_write,
    decode_mask,
    list_faces,
    read_face,
    read_meta,
    update_meta,
)
from engine.faces.masks import hull_mask
from engine.xseg.apply import XSegApplier
from engine.xseg.generic import generic_mask
from engine.xseg.labels import iou, label_mask
from tests.conftest import assert_clean_error, run_facecomp
from tests.xseg.conftest import copy_faces, frame_labels


def _ellipse_mattes(faces: Path, frames: Path, out: Path) -> None:
    """The acceptance check's mattes: an ellipse over the lower two thirds of each face, named as the frames."""
    out.mkdir()
    for f in list_faces(faces):
        m = read_meta(f)
        h, w = cv2.imread(str(frames / m.source_filename)).shape[:2]
        lm = m.source_landmarks
        c, r = lm.mean(0), (lm.max(0) - lm.min(0)) / 2
        matte = np.zeros((h, w), np.uint8)
        cv2.ellipse(matte, (int(c[0]), int(c[1] + r[1] * 0.2)), (int(r[0]), int(r[1] * 0.9)), 0, 0, 360, 255, -1)
        cv2.imwrite(str(out / (Path(m.source_filename).stem + ".png")), matte)


def test_import_then_export_mattes_round_trip(dst_faces: Path, dst_frames: Path, tmp_path: Path) -> None:
    faces = copy_faces(dst_faces, tmp_path / "aligned", 12)
    _ellipse_mattes(faces, dst_frames, tmp_path / "mattes")
    res = run_facecomp("xseg", "import-mattes", faces, "--mattes", tmp_path / "mattes" / "%05d.png")
    assert "12 of 12 faces labelled" in res.out
    assert all(read_meta(f).extra.get("xseg_label_mask") for f in list_faces(faces))
    run_facecomp("xseg", "export-mattes", faces, "--out", tmp_path / "back" / "%05d.png")
    run_facecomp("xseg", "export-mattes", faces, "--out", tmp_path / "exr" / "shot.%04d.exr")
    scores = []
    for p in sorted((tmp_path / "mattes").glob("*.png")):
        a = cv2.imread(str(p), 0) > 127
        b = cv2.imread(str(tmp_path / "back" / p.name), -1) > 127
        scores.append((a & b).sum() / (a | b).sum())
    assert min(scores) > 0.97, scores
    from engine.xseg.mattes import read_matte

    exr = read_matte(tmp_path / "exr" / "shot.0001.exr", "A")
    assert iou(exr, cv2.imread(str(tmp_path / "mattes" / "00001.png"), 0) / 255.0) > 0.97
    # traced to polygons instead of a mask: editable labels that still reproduce the matte
    run_facecomp("xseg", "remove", faces, "--labels")
    run_facecomp("xseg", "import-mattes", faces, "--mattes", tmp_path / "exr" / "shot.%04d.exr", "--channel", "A",
                 "--as", "polys")
    f = list_faces(faces)[0]
    meta = read_meta(f)
    assert meta.xseg_polys and "xseg_label_mask" not in meta.extra
    warped = cv2.warpAffine(exr, meta.image_to_face_mat, (meta.size, meta.size))
    assert iou(label_mask(meta, f), warped) > 0.95


def test_generic_apply_then_remove_restores_files(dst_faces: Path, tmp_path: Path) -> None:
    faces = copy_faces(dst_faces, tmp_path / "aligned", 6)
    before = {p.name: p.read_bytes() for p in list_faces(faces)}
    run_facecomp("xseg", "apply", faces, "--generic")
    for f in list_faces(faces):
        img, meta = read_face(f)
        assert meta.xseg_mask
        assert np.array_equal(img, cv2.imdecode(np.frombuffer(before[f.name], np.uint8), cv2.IMREAD_COLOR))
        m = cv2.imdecode(np.frombuffer(base64.b64decode(meta.xseg_mask), np.uint8), 0)
        assert set(np.unique(m)) <= {0, 255} and 0.3 < (m > 0).mean() < 0.8
    run_facecomp("xseg", "remove", faces)
    assert {p.name: p.read_bytes() for p in list_faces(faces)} == before


def test_generic_mask_against_hand_labels(labelled_faces: Path) -> None:
    """The geometric mask beats the plain landmark hull on the hand-labelled frames (forehead included)."""
    labels = frame_labels()
    g, h = [], []
    for f in list_faces(labelled_faces):
        meta = read_meta(f)
        if meta.source_frame not in labels:
            continue
        lab = label_mask(meta, f)
        g.append(iou(generic_mask(meta.landmarks, meta.size, meta.type), lab))
        h.append(iou(hull_mask(meta.landmarks, meta.size), lab))
    assert len(g) == 5
    assert np.mean(g) > 0.85 and np.mean(g) > np.mean(h) + 0.1, (g, h)


def test_train_resume_apply_export_fetch(tiny_model: Path, labelled_faces: Path, tmp_path: Path) -> None:
    meta = json.loads((tiny_model / "model.json").read_text())
    assert meta["format"] == "facecomp-xseg" and meta["iteration"] == 2 and meta["options"]["resolution"] == 64
    assert (tiny_model / "model.safetensors").is_file() and (tiny_model / "optimizer.safetensors").is_file()
    assert (tiny_model / "preview.png").is_file()
    faces = copy_faces(labelled_faces, tmp_path / "aligned", 10)
    run_facecomp("xseg", "apply", faces, "--model", tiny_model)
    assert all(read_meta(f).xseg_mask for f in list_faces(faces))
    onnx = tmp_path / "xseg.onnx"
    run_facecomp("xseg", "export", "--model", tiny_model, "--out", onnx)
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["in_face:0"] and sess.get_outputs()[0].name == "out_mask:0"
    assert sess.get_inputs()[0].shape[1:] == [64, 64, 3] and not isinstance(sess.get_inputs()[0].shape[0], int)
    props = sess.get_modelmeta().custom_metadata_map
    assert props["model"] == "xseg" and props["resolution"] == "64" and props["face_type"] == "whole_face"
    faces_np = np.stack([read_face(f)[0] for f in list_faces(faces)[:3]])
    torch_masks = XSegApplier(tiny_model).mask(faces_np)
    onnx_masks = XSegApplier(onnx).mask(faces_np)
    assert onnx_masks.shape == (3, 256, 256)
    assert np.abs(torch_masks - onnx_masks).max() < 1e-4
    before = [read_meta(f).xseg_mask for f in list_faces(faces)]
    run_facecomp("xseg", "apply", faces, "--model", onnx)  # the exported file applies like the folder
    after = [read_meta(f).xseg_mask for f in list_faces(faces)]
    same = [iou(decode_mask(a), decode_mask(b)) for a, b in zip(before, after, strict=True)]
    assert min(same) > 0.99
    res = run_facecomp("xseg", "fetch", faces)
    assert "2 labelled faces copied" in res.out  # frames 1 and 9 of the first 10 carry hand labels
    assert len(list_faces(tmp_path / "aligned_xseg")) == 2


def test_auto_training_runs_without_labels(dst_faces: Path, data: Path, tmp_path: Path) -> None:
    faces = copy_faces(dst_faces, tmp_path / "aligned", 8)
    model = tmp_path / "auto"
    run_facecomp("xseg", "train", "--auto", "--model", model, "--facesets", faces, "--target-iter", 1,
                 "--resolution", 64, "--batch-size", 2, "--preview-every", 0,
                 "--occluders", data / "images" / "no_face")
    meta = json.loads((model / "model.json").read_text())
    assert meta["options"]["auto"] is True and meta["iteration"] == 1
    run_facecomp("xseg", "train", "--model", model, "--facesets", faces, "--target-iter", 2, "--preview-every", 0)
    meta = json.loads((model / "model.json").read_text())  # resumed: stored options (auto, 64 px) kept
    assert meta["iteration"] == 2 and meta["options"]["auto"] is True and meta["resolution"] == 64
    assert (model / "backups" / "01" / "model.json").is_file()


def _damage(path: Path, change) -> None:  # noqa: ANN001 - change(meta_dict) edits in place
    data = path.read_bytes()
    meta = json.loads(_jpeg_read(data, path))
    change(meta)
    path.write_bytes(_jpeg_write(data, json.dumps(meta).encode(), path))


def test_damaged_labels_give_a_clear_error(dst_faces: Path, tmp_path: Path) -> None:
    faces = copy_faces(dst_faces, tmp_path / "aligned", 3)
    bad = list_faces(faces)[1]
    _damage(bad, lambda m: m.update(xseg_polys=[{"type": "include", "points": "not points"}]))
    before = {p.name: p.read_bytes() for p in list_faces(faces)}
    for args in (("apply", faces, "--generic"), ("export-mattes", faces, "--out", tmp_path / "m" / "%05d.png"),
                 ("train", "--model", tmp_path / "model", "--facesets", faces, "--target-iter", 1)):
        assert_clean_error(run_facecomp("xseg", *args, check=False), bad.name)
    assert {p.name: p.read_bytes() for p in list_faces(faces)} == before  # nothing written half-way
    assert not (tmp_path / "model").exists()
    _damage(bad, lambda m: (m.pop("xseg_polys"), m.update(xseg_label_mask="!!not base64!!")))
    assert_clean_error(run_facecomp("xseg", "apply", faces, "--generic", check=False), bad.name)
    assert_clean_error(run_facecomp("xseg", "train", "--model", tmp_path / "m2", "--facesets", faces, check=False),
                       bad.name)


def test_no_labels_and_bad_inputs_are_clear(dst_faces: Path, tmp_path: Path) -> None:
    faces = copy_faces(dst_faces, tmp_path / "aligned", 2)
    assert_clean_error(run_facecomp("xseg", "train", "--model", tmp_path / "m", "--facesets", faces, check=False),
                       "--auto")
    assert_clean_error(run_facecomp("xseg", "apply", faces, "--model", tmp_path / "none", check=False), "model.json")
    assert_clean_error(run_facecomp("xseg", "import-mattes", faces, "--mattes", tmp_path / "x" / "%04d.png",
                                    check=False), "does not exist")
    assert_clean_error(run_facecomp("xseg", "export-mattes", faces, "--out", tmp_path / "o" / "%05d.png",
                                    check=False), "no applied xseg masks or labels")
    run_facecomp("xseg", "apply", faces, "--generic")
    run_facecomp("xseg", "export-mattes", faces, "--out", tmp_path / "s" / "%05d.png")  # frame size from metadata
    assert {cv2.imread(str(p)).shape[:2] for p in (tmp_path / "s").glob("*.png")} == {(388, 512)}
    for f in list_faces(faces):  # faces from other tools may not record their frame size
        meta = read_meta(f)
        meta.extra.pop("source_size", None)
        update_meta(f, meta)
    assert_clean_error(run_facecomp("xseg", "export-mattes", faces, "--out", tmp_path / "o" / "%05d.png",
                                    check=False), "--size")
    run_facecomp("xseg", "export-mattes", faces, "--out", tmp_path / "o" / "%05d.png", "--size", "512x388")
    assert len(list((tmp_path / "o").glob("*.png"))) == 2
