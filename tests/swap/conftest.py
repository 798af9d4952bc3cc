"""Fixtures of the swap tests: tiny DFM-signature models (built here from small torch modules), a small SAEHD
exported by engine.export, a tiny XSeg ONNX, and a few real frames with their aligned faces."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn


class TinySwap(nn.Module):
    def __init__(self, resolution: int, morph: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.morph = morph
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, resolution), torch.linspace(-1, 1, resolution), indexing="ij")
        self.register_buffer("dst_ellipse", torch.sigmoid((1 - (xs / 0.62) ** 2 - ((ys - 0.05) / 0.75) ** 2) * 12))
        self.register_buffer("src_ellipse", torch.sigmoid((1 - (xs / 0.55) ** 2 - ((ys - 0.05) / 0.68) ** 2) * 12))
        self.register_buffer("tint", torch.tensor([0.9, 1.0, 1.15]).view(1, 3, 1, 1))

    def _face(self, x: torch.Tensor, strength: torch.Tensor | float) -> torch.Tensor:
        mirrored = torch.flip(x, dims=[3]) * self.tint
        detail = torch.sigmoid(self.conv(x)) - 0.5
        return torch.clamp(x + (mirrored + 0.1 * detail - x) * strength, 0, 1)

    def forward(self, in_face: torch.Tensor, morph_value: torch.Tensor | None = None):
        x = in_face.permute(0, 3, 1, 2)
        strength = morph_value.view(1, 1, 1, 1) if morph_value is not None else 1.0
        face = self._face(x, strength).permute(0, 2, 3, 1)
        n = x.shape[0]
        dst = self.dst_ellipse.expand(n, -1, -1).unsqueeze(-1) * torch.ones_like(in_face[..., :1])
        src = self.src_ellipse.expand(n, -1, -1).unsqueeze(-1) * torch.ones_like(in_face[..., :1])
        return dst, face, src


def export_tiny(path: Path, resolution: int = 64, morph: bool = False, face_type: str | None = "whole_face",
                rename_input: str = "in_face:0") -> Path:
    """Write the tiny model as ONNX (opset 17, dynamic batch); ``face_type=None`` writes no metadata (a .dfm)."""
    import onnx

    model = TinySwap(resolution, morph).eval()
    dummy = torch.rand(1, resolution, resolution, 3)
    args = (dummy, torch.tensor([1.0])) if morph else (dummy,)
    inputs = [rename_input, "morph_value:0"] if morph else [rename_input]
    outputs = ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), input_names=inputs, output_names=outputs, opset_version=17,
                          dynamic_axes={inputs[0]: {0: "N"}, **{o: {0: "N"} for o in outputs}}, dynamo=False)
    m = onnx.load(str(path))
    if face_type is not None:
        for k, v in {"face_type": face_type, "resolution": str(resolution), "model": "tiny",
                     "color_space": "sRGB - Texture", "iteration": "1"}.items():
            m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))
    return path


class TinyXSeg(nn.Module):
    """An "XSeg" whose mask follows the image (bright, reddish skin-like pixels), so prd and dst masks differ."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # NHWC BGR 0..1 -> N,H,W,1
        b, g, r = x[..., 0:1], x[..., 1:2], x[..., 2:3]
        return torch.sigmoid((r - 0.5 * (b + g)) * 25.0 + (r - 0.3) * 10.0)


def export_xseg(path: Path, size: int = 256) -> Path:
    """The tiny XSeg in engine.xseg.export's signature (in_face:0 / out_mask:0, NHWC, face_type metadata)."""
    import onnx

    axes = {"in_face:0": {0: "N"}, "out_mask:0": {0: "N"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TinyXSeg(), (torch.rand(1, size, size, 3),), str(path), input_names=["in_face:0"],
                          output_names=["out_mask:0"], opset_version=17, dynamic_axes=axes, dynamo=False)
    m = onnx.load(str(path))
    m.metadata_props.add(key="face_type", value="whole_face")
    m.metadata_props.add(key="model", value="xseg")
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="session")
def make_tiny():
    """The tiny-model exporter, for tests that need a variant (e.g. a wrong input name)."""
    return export_tiny


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny (64 px, metadata), tiny_amp (morph input), tiny_dfm (96 px, no metadata), xseg (256 px)."""
    d = tmp_path_factory.mktemp("models")
    return {"tiny": export_tiny(d / "tiny.onnx"), "tiny_amp": export_tiny(d / "tiny_amp.onnx", morph=True),
            "tiny_dfm": export_tiny(d / "tiny.dfm", resolution=96, face_type=None),
            "xseg": export_xseg(d / "xseg.onnx")}


@pytest.fixture(scope="session")
def saehd_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained) SAEHD liae-ud 64 px model exported by engine.export (DFM signature)."""
    from engine.export.onnx import export_swap_model
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("saehd", {"resolution": 64, "archi": "liae-ud", "ae_dims": 32, "e_dims": 16, "d_dims": 16,
                                  "d_mask_dims": 16, "face_type": "wf"})
    return export_swap_model(model, tmp_path_factory.mktemp("saehd") / "saehd.onnx", {"iteration": 1})


@pytest.fixture(scope="session")
def shot(dst_frames: Path, dst_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 12 dst frames with their aligned faces in FRAMES/aligned (the workspace layout)."""
    d = tmp_path_factory.mktemp("shot")
    (d / "aligned").mkdir()
    for i in range(1, 13):
        shutil.copy(dst_frames / f"{i:05d}.png", d / f"{i:05d}.png")
        shutil.copy(dst_faces / f"{i:05d}_0.jpg", d / "aligned" / f"{i:05d}_0.jpg")
    return d


@pytest.fixture(scope="session")
def exr_plate(shot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 1-8 of the shot as scene-linear ACEScg half EXRs numbered 1001-1008 (a VFX plate)."""
    from engine.media import color
    from engine.media.image_io import read_image, write_exr

    d = tmp_path_factory.mktemp("plate")
    for i in range(1, 9):
        img = color.convert(read_image(shot / f"{i:05d}.png").astype(np.float32) / 255.0, color.MODEL_SPACE, "ACEScg")
        write_exr(d / f"plate.{1000 + i:04d}.exr", {"R": img[..., 2], "G": img[..., 1], "B": img[..., 0]},
                  attributes={"oiio:ColorSpace": "ACEScg"})
    return d
