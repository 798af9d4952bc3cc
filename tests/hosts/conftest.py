"""Fixtures of the host tests: a tiny face model, a linear EXR plate numbered 1001.., a small SAEHD, and the Nuke
double (tests/hosts/doubles) with the real plugin code loaded into it. Helpers live in hostkit.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostkit import FRAMES, NUKE_PLUGIN, WORKING_SPACE, dfm_model, facecomp_exe  # noqa: E402


@pytest.fixture(scope="session")
def media(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny.onnx (a 64 px DFM model) and plate.1001-1005.exr: the first frames of dst_obama_speaking.mp4
    converted to ACEScg half-float EXR (a scene-linear plate as a compositor has it)."""
    from engine.media import color
    from engine.media.frames import open_frames
    from engine.media.image_io import to_float, write_exr
    root = tmp_path_factory.mktemp("host_media")
    model = dfm_model(root / "tiny.onnx", 64)
    for frame in open_frames(data / "video" / "dst_obama_speaking.mp4"):
        if frame.number > len(FRAMES):
            break
        bgr = color.convert(to_float(frame.image), "sRGB - Texture", WORKING_SPACE)
        ones = bgr[..., 0] * 0 + 1
        write_exr(root / f"plate.{1000 + frame.number}.exr", {"R": bgr[..., 2], "G": bgr[..., 1], "B": bgr[..., 0],
                                                               "A": ones})
    return {"root": root, "model": model, "plate": root / "plate.%04d.exr"}


@pytest.fixture
def nuke_session(media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh GUI session of the nuke double with nuke_plugin on NUKE_PATH (init.py and menu.py run)."""
    import nuke

    monkeypatch.setenv("FACECOMP_EXE", facecomp_exe())
    monkeypatch.setenv("FACECOMP_CACHE_DIR", str(tmp_path / "cache"))
    nuke._reset(gui=True)
    nuke._set_format(512, 388)
    nuke.root()["first_frame"].setValue(FRAMES[0])
    nuke.root()["last_frame"].setValue(FRAMES[-1])
    nuke.root()["workingSpaceLUT"].setValue(WORKING_SPACE)
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke._startup([str(NUKE_PLUGIN)])
    yield nuke
    import facecomp_nuke
    import facecomp_ui

    for thread in list(facecomp_ui._JOBS.values()):
        thread.join(30)
    nuke._process_events()
    facecomp_nuke.FAILED_SETUPS.clear()


@pytest.fixture(scope="session", autouse=True)
def _stop_workers():
    yield
    if "facecomp_nuke" in sys.modules:
        sys.modules["facecomp_nuke"].stop_all_workers()


@pytest.fixture(scope="session")
def saehd_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small SAEHD (liae-ud, res 64) built and exported by the engine, as `facecomp export` writes it."""
    import torch

    from engine.export.onnx import export_swap_model
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 64, "e_dims": 32, "d_dims": 32,
                                  "d_mask_dims": 16})
    return export_swap_model(model.eval(), tmp_path_factory.mktemp("saehd") / "saehd.onnx")
