"""`facecomp report` on real frames with models whose right answers are known.

* ``constant``: every swapped face is one src face, so the identity must move toward src;
* ``identity``: the swap returns the dst face itself, so identity, pose and shape must stay the dst's.
Both run side by side in one report (``--compare``), which also checks the comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.quality.report import ReportRequest, make_report
from tests.conftest import run_facecomp
from tests.quality.dfm_models import aligned_src_face, dfm_model

FRAMES = 8


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, src_faces: Path) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("report_models")
    const = dfm_model(d / "constant.onnx", 128, aligned_src_face(src_faces, 128))
    ident = dfm_model(d / "identity.onnx", 128)
    return const, ident


@pytest.fixture(scope="module")
def report(models, src_faces: Path, dst_frames: Path, dst_faces: Path, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("report")
    req = ReportRequest(model=models[0], compare=models[1], src=src_faces, dst=dst_frames, aligned=dst_faces,
                        out=out, max_frames=FRAMES, src_faces=16)
    return make_report(req), out


def test_report_json_has_the_promised_figures(report):
    data, out = report
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["identity"]["swap_to_src"] == data["identity"]["swap_to_src"]
    for section, key in (("identity", "swap_to_src"), ("identity", "dst_to_src"), ("pose", "error_deg"),
                         ("reconstruction", "ssim_dst"), ("jitter", "landmark_px")):
        assert key in on_disk[section]
        assert key in on_disk["compare"][section]
    assert on_disk["shot"]["frames_measured"] == FRAMES
    assert on_disk["embedder"]["name"] == "dlib_face_recognition_resnet_model_v1"
    assert "public domain" in on_disk["embedder"]["licence"]
    # an ONNX without its model folder cannot reconstruct: said so, not invented
    assert on_disk["reconstruction"]["available"] is False and on_disk["reconstruction"]["ssim_dst"] is None
    assert len(on_disk["identity"]["per_frame"]) == FRAMES
    assert not list(out.glob(".*"))  # no temporary files left


def test_identity_moves_toward_src_only_when_the_face_is_swapped(report):
    data, _ = report
    const, ident = data, data["compare"]
    # the no-op swap keeps the dst identity
    assert ident["identity"]["swap_to_src"] == pytest.approx(ident["identity"]["dst_to_src"], abs=0.03)
    assert ident["identity"]["swap_to_dst"] > 0.95
    # the src-face swap moves clearly toward src, and away from dst
    assert const["identity"]["swap_to_src"] > const["identity"]["dst_to_src"] + 0.05
    assert const["identity"]["swap_to_dst"] < ident["identity"]["swap_to_dst"] - 0.05
    assert const["identity"]["retrieval"] > 0.8 > ident["identity"]["retrieval"]


def test_pose_shape_and_stability_of_a_no_op_swap(report):
    ident = report[0]["compare"]
    assert ident["pose"]["error_deg"] < 2.0
    assert ident["pose"]["shape_nme"] < 2.0
    assert ident["pose"]["face_found"] == 1.0
    const = report[0]
    assert const["pose"]["shape_nme"] > ident["pose"]["shape_nme"]  # a fixed face cannot follow the mouth
    assert ident["jitter"]["landmark_px"] is not None and ident["jitter"]["landmark_px_dst"] is not None
    assert ident["jitter"]["landmark_px"] == pytest.approx(ident["jitter"]["landmark_px_dst"], rel=0.5, abs=0.3)
    if ident["jitter"]["still_pairs"]:
        assert 0.5 < ident["jitter"]["flicker_ratio"] < 1.5  # the face pass changes as the plate does


def test_report_html_is_self_contained(report):
    _, out = report
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4  # identity, pose, stability charts and the samples
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "constant.onnx" in page and "identity.onnx" in page
    assert "dlib_face_recognition_resnet_model_v1" in page


def test_report_cli_with_model_folder_reconstruction(tmp_path, src_faces, dst_frames, dst_faces, tiny_model_dir):
    folder, onnx_path = tiny_model_dir
    res = run_facecomp("report", "--model", onnx_path, "--src", src_faces, "--dst", dst_frames, "--aligned",
                       dst_faces, "--out", tmp_path / "rep", "--max-frames", 3, "--recon-faces", 4, "--src-faces", 4,
                       "--json")
    figures = json.loads(res.out)
    rec = figures["reconstruction"]
    assert rec["available"] is True and rec["faces_dst"] == 4 and rec["faces_src"] == 4
    assert -1.0 <= rec["ssim_dst"] <= 1.0 and rec["psnr_dst"] > 0
    assert rec["held_out"] is True  # the tiny model names no training folders
    assert figures["model"]["iteration"] == 7 and figures["model"]["training_seconds"] == 12.5
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "ae_dims" in page  # the model's options are shown


def test_report_on_an_exr_plate_in_acescg(models, src_faces, dst_frames, dst_faces, tmp_path):
    """Float plates are measured in the model's space: a no-op swap of an ACEScg EXR plate keeps identity and pose."""
    from engine.media.color import convert, resolve_name
    from engine.media.image_io import read_image, write_exr

    plate = tmp_path / "plate"
    plate.mkdir()
    for f in sorted(dst_frames.glob("*.png"))[:4]:
        lin = convert(read_image(f).astype("float32") / 255.0, "sRGB - Texture", resolve_name("ACEScg"))
        write_exr(plate / f"{f.stem}.exr", {"R": lin[..., 2], "G": lin[..., 1], "B": lin[..., 0]},
                  attributes={"oiio:ColorSpace": "ACEScg"})
    req = ReportRequest(model=models[1], src=src_faces, dst=plate, aligned=dst_faces, out=tmp_path / "rep",
                        src_faces=8, working_space="ACEScg")
    data = make_report(req)
    assert data["shot"]["frames_measured"] == 4
    assert data["identity"]["swap_to_src"] == pytest.approx(data["identity"]["dst_to_src"], abs=0.03)
    assert data["pose"]["error_deg"] < 2.0
