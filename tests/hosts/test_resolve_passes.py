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


def test_crypto_loader_and_the_multipart_rule(fusion, media, tmp_path):
    """The default passes keep the Cryptomatte ids in a second EXR part: FaceSwap_crypto is built, the fuse is not
    (it would refuse the file), and the log says how to pick faces instead."""
    fusion._fuses.add(passes_kit.CRYPTO_FUSE)
    comp, _, lines, first = _built(fusion, media, tmp_path)
    crypto = comp.FindTool("FaceSwap_crypto")
    assert crypto.GetInput("Clip1.OpenEXRFormat.RedName") == "face.R" and comp.FindTool("FaceSwap_cryptomatte") is None
    assert any("refuses multi-part" in line for line in lines), lines
    fuse = comp.AddTool(passes_kit.CRYPTO_FUSE)
    fuse.ConnectInput("Input", crypto)
    with pytest.raises(RuntimeError, match="multipart EXR not supported"):
        fuse._image(FRAME)


def test_cryptomatte_fuse_picks_the_face_from_a_single_part_file(fusion, media, tmp_path):
    from tests.conftest import run_facecomp

    comp, _, _, first = _built(fusion, media, tmp_path)
    single = tmp_path / "crypto" / "faceswap.%04d.exr"
    run_facecomp("render", "--model", media["model"], "--plate", media["plate"], "--frames", str(FRAME),
                 "--out", single, "--passes", "crypto", "--working-space", WORKING_SPACE)
    plate = {"global_in": FRAME, "frames": [FRAME]}
    lines = []
    tools = passes_kit.crypto_tools(comp, str(single) % FRAME, plate, {"faces": "all"}, lines.append)
    assert [t.Name for t in tools] == ["FaceSwap_crypto"] and passes_kit.CRYPTO_INSTALL in lines[-1], "not installed"
    fusion._fuses.add(passes_kit.CRYPTO_FUSE)
    tools = passes_kit.crypto_tools(comp, str(single) % FRAME, plate, {"faces": "face0"}, lines.append)
    fuse = tools[-1]
    assert fuse.ID == passes_kit.CRYPTO_FUSE and fuse.GetInput("MatteList") == '"face0"'
    assert fuse.Input.GetConnectedOutput().GetTool() is comp.FindTool("FaceSwap_crypto")
    matte = fuse._image(FRAME)["A"]
    np.testing.assert_allclose(matte, read_exr(first)["facemask.A"], atol=2e-3,
                               err_msg="the fuse's face0 matte is the face's mask")
    fuse.SetInput("MatteList", '"face7"')
    assert fuse._image(FRAME)["A"].max() == 0.0


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
