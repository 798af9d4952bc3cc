"""The Fusion script's Cryptomatte and STMap tools (resolve_plugin/facecomp_fusion_passes.py) against the Fusion double,
with pass files written by the real worker/CLI: the Loader Psyop's Cryptomatte fuse needs and the fuse itself
(tests/hosts/doubles/fusion_tools.py: refuses multi-part EXRs as Psyop's 1.4.0 does), and the STMap Loader
mapping stmap.R/G to Fusion's U/V channels for the Texture tool."""

from __future__ import annotations

import facecomp_fusion
import facecomp_fusion_passes as passes_kit
import fusionscript
import numpy as np
import pytest
from hostkit import WORKING_SPACE, facecomp_exe, read_exr
from test_resolve_faceswap import _answers, _plate_comp

FRAME = 1003


@pytest.fixture
def fusion(monkeypatch):
    monkeypatch.setenv("FACECOMP_EXE", facecomp_exe())
    return fusionscript._reset()


def _built(fusion, media, tmp_path):
    comp, loader, _ = _plate_comp(fusion, media, tmp_path)
    comp._answer = _answers(model=str(media["model"]), working_space=WORKING_SPACE)
    lines = []
    assert facecomp_fusion.main(comp, log=lines.append) is True
    return comp, loader, lines, tmp_path / "facecomp" / "passes" / f"faceswap.{FRAME}.exr"


def test_faceswap_writes_one_part_files_that_the_cryptomatte_fuse_reads(fusion, media, tmp_path):
    """The script asks the worker for one-part pass files (exr_layout "single"): Psyop's fuse, which refuses
    multi-part EXRs, is built on FaceSwap_crypto and gives each face's matte by name."""
    from host_kit.exr import read_header

    fusion._fuses.add(passes_kit.CRYPTO_FUSE)
    comp, _, _, first = _built(fusion, media, tmp_path)
    assert read_header(str(first))["parts"] == 1 and read_exr(first)["__format__"] == "float"
    fuse = comp.FindTool("FaceSwap_cryptomatte")
    assert fuse is not None and fuse.Input.GetConnectedOutput().GetTool() is comp.FindTool("FaceSwap_crypto")
    fuse.SetInput("MatteList", '"face0"')
    np.testing.assert_allclose(fuse._image(FRAME)["A"], read_exr(first)["facemask.A"], atol=2e-3,
                               err_msg="the fuse's face0 matte is the face's mask")
    fuse.SetInput("MatteList", '"face7"')
    assert fuse._image(FRAME)["A"].max() == 0.0


def test_two_part_files_keep_the_loader_and_say_why(fusion, media, tmp_path):
    """Pass files in the default two-part layout (facecomp render) get FaceSwap_crypto but no fuse, which would
    refuse them, and the log says how to pick faces instead; without the fuse installed the log says how to
    install it."""
    from tests.conftest import run_facecomp

    comp, _, _, _ = _built(fusion, media, tmp_path)
    parts = tmp_path / "parts" / "faceswap.%04d.exr"
    run_facecomp("render", "--model", media["model"], "--plate", media["plate"], "--frames", str(FRAME),
                 "--out", parts, "--working-space", WORKING_SPACE)
    plate = {"global_in": FRAME, "frames": [FRAME]}
    lines = []
    fusion._fuses.add(passes_kit.CRYPTO_FUSE)
    tools = passes_kit.crypto_tools(comp, str(parts) % FRAME, plate, {"faces": "face0"}, lines.append)
    assert [t.Name for t in tools] == ["FaceSwap_crypto"] and "refuses multi-part" in lines[-1]
    fuse = comp.AddTool(passes_kit.CRYPTO_FUSE)
    fuse.ConnectInput("Input", tools[0])
    with pytest.raises(RuntimeError, match="multipart EXR not supported"):
        fuse._image(FRAME)
    fusion._fuses.discard(passes_kit.CRYPTO_FUSE)
    single = tmp_path / "single" / "faceswap.%04d.exr"
    run_facecomp("render", "--model", media["model"], "--plate", media["plate"], "--frames", str(FRAME),
                 "--out", single, "--exr-layout", "single", "--working-space", WORKING_SPACE)
    tools = passes_kit.crypto_tools(comp, str(single) % FRAME, plate, {"faces": "all"}, lines.append)
    assert [t.Name for t in tools] == ["FaceSwap_crypto"] and passes_kit.CRYPTO_INSTALL in lines[-1], "not installed"


def test_stmap_loader_feeds_fusions_texture_tool(fusion, media, tmp_path):
    comp, plate_loader, _, first = _built(fusion, media, tmp_path)
    stmap, apply = comp.FindTool("FaceSwap_stmap"), comp.FindTool("FaceSwap_stmap_apply")
    assert (stmap.GetInput("Clip1.OpenEXRFormat.UName"), stmap.GetInput("Clip1.OpenEXRFormat.VName")) == \
        ("stmap.R", "stmap.G")
    assert apply.ID == "Texture" and apply.Input.GetConnectedOutput().GetTool() is stmap
    passes = read_exr(first)
    shown = stmap._image(FRAME)
    np.testing.assert_allclose(shown["U"], passes["stmap.R"], atol=1e-6)
    apply.ConnectInput("Texture", plate_loader)  # any image stands in for a painted face patch
    inside = passes["facemask.A"] > 0.5
    assert np.abs(apply._image(FRAME)["R"][inside]).max() > 0, "the texture is looked up inside the face"
    stmap.SetInput("Clip1.OpenEXRFormat.UName", "U")  # a slot naming no channel of the file
    passes_kit.refresh_loader(stmap)
    with pytest.raises(RuntimeError, match="no U/V channels"):
        apply._image(FRAME)
