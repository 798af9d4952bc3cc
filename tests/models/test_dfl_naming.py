"""DFL weight keys <-> our parameter names, checked against the key/shape tables of dfl_samples/README.md."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from engine.errors import FacecompError
from engine.models import build_model
from engine.models.naming import (
    dfl_array_to_torch,
    dfl_key_to_ours,
    dfl_part_to_state_dict,
    dfl_shape,
    ours_to_dfl_key,
    state_dict_to_dfl_part,
    torch_to_dfl_array,
)
from tests.conftest import DATA

README = DATA / "dfl_samples" / "README.md"
SAMPLE = dict(resolution=64, face_type="wf", ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16)
_SHAPE = re.compile(r"\(([\d,\s]+)\)")


def _shape(cell: str, fallback: tuple[int, ...] | None) -> tuple[int, ...]:
    cell = cell.strip()
    if cell.startswith("same"):
        assert fallback is not None
        return fallback
    m = _SHAPE.search(cell)
    assert m, cell
    return tuple(int(v) for v in m.group(1).replace(" ", "").split(",") if v)


def readme_tables() -> list[list[tuple[list[str], list[tuple[int, ...]]]]]:
    """The three key/shape tables under "Model weight files": [(keys, [shape per column]), ...] per table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Model weight files", 1)[1].split("\n### ", 1)[0]
    tables, rows = [], []
    for line in section.splitlines() + [""]:
        cells = [c for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells and "`" in cells[0] and "---" not in line:
            keys = re.findall(r"`([^`]+:0)`", cells[0])
            shapes: list[tuple[int, ...]] = []
            for cell in cells[1:]:
                shapes.append(_shape(cell, shapes[0] if shapes else None))
            rows.append((keys, shapes))
        elif not line.startswith("|") and rows:
            tables.append(rows)
            rows = []
    return tables


def expected(tables, column: int) -> dict[str, dict[str, tuple[int, ...]]]:
    """{table name: {dfl key: shape}} for one shape column (0 = liae / only column, 1 = df)."""
    out = {}
    for name, rows in zip(("encoder", "inter", "decoder"), tables, strict=True):
        out[name] = {k: shapes[min(column, len(shapes) - 1)] for keys, shapes in rows for k in keys}
    return out


def dfl_view(model, part: str) -> dict[str, tuple[int, ...]]:
    """Our parameters of one part, as DFL keys and DFL shapes."""
    return {ours_to_dfl_key(k)[1]: dfl_shape(tuple(v.shape)) for k, v in model.state_dict().items()
            if k.split(".")[0] == part}


@pytest.fixture(scope="module")
def tables(data):
    t = readme_tables()
    assert [len(rows) for rows in t] == [8, 6, 26]  # rows; the decoder's paired rows hold 36 keys
    return t


# archi -> (README shape column, {our part: README table}, parameter count per part from the README)
SAMPLE_PARTS = {
    "liae-ud": (0, {"encoder": "encoder", "inter_AB": "inter", "inter_B": "inter", "decoder": "decoder"},
                {"encoder": 270_240, "inter_AB": 221_728, "inter_B": 221_728, "decoder": 2_327_453}),
    "df-ud": (1, {"encoder": "encoder", "inter": "inter", "decoder_src": "decoder", "decoder_dst": "decoder"},
              {"encoder": 270_240, "inter": 106_784, "decoder_src": 1_442_717, "decoder_dst": 1_442_717}),
}


@pytest.mark.parametrize("archi", list(SAMPLE_PARTS))
def test_sample_keys_and_shapes_match_dfl_files(tables, archi):
    column, parts, counts = SAMPLE_PARTS[archi]
    with torch.device("meta"):
        model = build_model("saehd", {**SAMPLE, "archi": archi})
    want = expected(tables, column)
    assert list(model.parts()) == list(parts)
    for part, table in parts.items():
        assert dfl_view(model, part) == want[table], part
    assert len(want["decoder"]) == 36
    assert {p: sum(v.numel() for v in m.parameters()) for p, m in model.parts().items()} == counts


def test_key_rule_both_ways():
    assert dfl_key_to_ours("encoder", "down1/downs_0/conv1/weight:0") == "encoder.down1.downs.0.conv1.weight"
    assert dfl_key_to_ours("decoder", "out_conv1/bias:0") == "decoder.out_conv1.bias"
    assert dfl_key_to_ours("gan", "upconvs_3/weight:0") == "gan.upconvs.3.weight"
    assert ours_to_dfl_key("encoder.down1.downs.0.conv1.weight") == ("encoder", "down1/downs_0/conv1/weight:0")
    with torch.device("meta"):
        model = build_model("saehd", {**SAMPLE, "archi": "liae-udt"})
    for name in model.state_dict():
        part, key = ours_to_dfl_key(name)
        assert dfl_key_to_ours(part, key) == name


def test_array_layouts_round_trip():
    rng = np.random.default_rng(0)
    conv = rng.random((3, 5, 4, 7), dtype=np.float32)  # (kh, kw, in, out)
    t = dfl_array_to_torch("w", conv)
    assert t.shape == (7, 4, 3, 5) and float(t[6, 3, 2, 4]) == float(conv[2, 4, 3, 6])
    dense = rng.random((10, 3), dtype=np.float32)
    assert dfl_array_to_torch("d", dense).shape == (3, 10)
    np.testing.assert_array_equal(torch_to_dfl_array("w", t), conv)
    # a DFL conv on an image equals our conv on the converted kernel (cross-correlation both ways)
    x = rng.random((1, 4, 6, 6), dtype=np.float32)
    k = rng.random((3, 3, 4, 2), dtype=np.float32)
    ours = torch.nn.functional.conv2d(torch.from_numpy(x), dfl_array_to_torch("k", k)).numpy()
    ref = np.einsum("cyx,yxco->o", x[0, :, 1:4, 2:5], k)
    np.testing.assert_allclose(ours[0, :, 1, 2], ref, rtol=1e-5)


def test_part_conversion_reports_mismatches():
    model = build_model("saehd", {**SAMPLE, "archi": "df-ud"})
    sd = model.state_dict()
    weights = state_dict_to_dfl_part("inter", sd)
    converted = dfl_part_to_state_dict("inter", weights, sd, "x_inter.npy")
    assert all(torch.equal(converted[k], sd[k]) for k in converted)
    bad = dict(weights)
    bad["dense1/weight:0"] = np.zeros((2048, 31), np.float32)
    with pytest.raises(FacecompError, match=r"x_inter.npy: inter: weight dense1/weight:0 has shape \(2048, 31\)"):
        dfl_part_to_state_dict("inter", bad, sd, "x_inter.npy")
    missing = {k: v for k, v in weights.items() if not k.startswith("upscale1")}
    with pytest.raises(FacecompError, match="missing"):
        dfl_part_to_state_dict("inter", missing, sd, "x_inter.npy")
    with pytest.raises(FacecompError, match="unexpected"):
        dfl_part_to_state_dict("inter", {**weights, "dense9/bias:0": np.zeros(3, np.float32)}, sd)
