"""The passes a compositor picks apart: a spec-only Cryptomatte decoder reads the renderers' reference files and
facecomp's output alike (one matte per face = that face's mask); per-face mattes; the STMap re-projects the
aligned face onto the plate; the data window holds the faces."""

from __future__ import annotations

import json
import shutil
import struct

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from engine.media.image_io import read_exr_layers, read_image
from engine.swap import cryptomatte
from engine.swap.passes import write_passes
from engine.swap.render import Renderer, load_settings
from engine.swap.stmap import lookup
from tests.conftest import assert_clean_error, run_facecomp
from tests.cryptomatte_decoder import decode, hex_to_float, mm3hash_float

REFERENCE = {  # file -> (typename, names that must be in its manifest)
    "special_chars.exr": ("special_chars", ['name containing a "quote"  ', "name_containing/slash", "равнина",
                                            "name, with, comma"]),
    "cornellBox_CryptoWildcard.0001.exr": ("uCryptoWildcard", ["rect_[_top", "rect_][_bot", "Rect_[]_right",
                                                               "has_*_asterisk", "sphere_?_2"]),
    "multichannel.exr": ("crypto_material", ["/shop/mat1/standard_surface1", "/shop/mat2/standard_surface1"]),
}


@pytest.mark.parametrize("file", list(REFERENCE))
def test_decoder_reads_the_renderers_reference_files(data, file):
    typename, names = REFERENCE[file]
    found = decode(data / "cryptomatte" / file)
    c = found[typename]
    assert (c.hash, c.conversion) == ("MurmurHash3_32", "uint32_to_float32") and len(c.ranks) == 6
    assert c.key == cryptomatte.metadata_key(typename)  # the renderers key by the typename's hash, as we do
    assert set(names) <= set(c.manifest)
    for name, hex_id in c.manifest.items():  # the UTF-8 hash of every name is the manifest's id ...
        assert hex_to_float(hex_id) == mm3hash_float(name) == cryptomatte.name_id(name), name
        assert f"{cryptomatte.id_bits(name):08x}" == hex_id
    assert c.ids() <= {hex_to_float(h) for h in c.manifest.values()}  # ... and every id in the pixels is listed
    mattes = {n: c.matte(n) for n in c.manifest}
    for name in names:
        assert mattes[name].max() > 0.99, name  # each named object has a full-coverage matte
    total = sum(mattes.values())
    assert total.max() < 1.0 + 1e-5 and total.min() >= 0.0


def test_ids_follow_the_spec_examples_and_exponent_fix_up():
    assert mmh3_signed("torus") == -241404931 and cryptomatte.name_hash("torus") == 4053562365
    assert float(cryptomatte.name_id("torus")) == pytest.approx(-1.54943624832e30, rel=1e-9)
    assert float(cryptomatte.name_id("равнина")) == pytest.approx(-1.31926312124e-25, rel=1e-9)
    odd = [f"face{i}" for i in range(5000) if (cryptomatte.name_hash(f"face{i}") >> 23 & 255) in (0, 255)]
    assert odd  # names whose raw hash would be a denormal, inf or NaN: the exponent bit is toggled
    for name in odd:
        value = cryptomatte.name_id(name)
        assert np.isfinite(value) and (value == 0 or abs(value) >= np.finfo(np.float32).tiny)
        assert cryptomatte.id_bits(name) ^ cryptomatte.name_hash(name) == 1 << 23
        assert float(value) == mm3hash_float(name)


def mmh3_signed(name: str) -> int:
    return struct.unpack("<i", struct.pack("<I", cryptomatte.name_hash(name)))[0]


@pytest.fixture(scope="module")
def two_faces(models, data, tmp_path_factory):
    """Two real faces in one frame rendered with the default passes and patches, and the in-memory result."""
    folder = tmp_path_factory.mktemp("two_faces")
    shutil.copy(data / "images" / "multi_face" / "two_people.jpg", folder / "p.0001.jpg")
    renderer = Renderer(models["tiny"])
    renderer.render(str(folder / "p.%04d.jpg"), 1, folder / "o.0001.exr", patches_dir=folder / "patches")
    result = renderer.swap(read_image(folder / "p.0001.jpg"), 1, load_settings(None), None, None)
    return folder, result


def test_facecomp_cryptomatte_decodes_to_one_matte_per_face(two_faces):
    folder, result = two_faces
    path = folder / "o.0001.exr"
    c = decode(path)["CryptoFace"]
    assert len(c.ranks) == 2 * len(cryptomatte.layer_channels()) // 4
    assert sorted(c.manifest) == ["face0", "face1"] and c.key == cryptomatte.metadata_key("CryptoFace")
    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()  # part 0: the image passes, half (what a compositor and `str(spec.format)` expect)
    assert str(spec.format) == "half" and "face.R" in spec.channelnames and "CryptoFace00.R" not in spec.channelnames
    assert inp.seek_subimage(1, 0)  # part 1: the ids and the STMap, 32-bit (docs/merge.md "Sample type")
    ids = inp.spec()
    inp.close()
    assert str(ids.format) == "float" and {"CryptoFace00.R", "stmap.R"} <= set(ids.channelnames)
    assert (ids.x, ids.y, ids.width, ids.height) == (spec.x, spec.y, spec.width, spec.height)
    x0, y0 = spec.x, spec.y
    h, w = spec.height, spec.width
    layers, attrs = read_exr_layers(path)
    assert json.loads(attrs["facecomp:face_names"]) == ["face0", "face1"]
    for layer in result.layers:
        matte = c.matte(layer.name)  # over the data window
        mask = np.zeros(result.plate.shape[:2], np.float32)
        lx0, ly0, lx1, ly1 = layer.roi
        mask[ly0:ly1, lx0:lx1] = layer.mask
        assert np.abs(matte - mask[y0:y0 + h, x0:x0 + w]).max() <= 1 / 255, layer.name
        assert np.abs(layers[f"facemask_{layer.name}.A"] - mask).max() <= 1 / 255, layer.name
        assert mask.max() > 0.99 and (matte > 0).sum() > 1000
    other = c.matte("face0") * c.matte("face1")
    assert other.max() == 0  # two separate people: no pixel in both
    all_faces = layers["facemask.A"][y0:y0 + h, x0:x0 + w]
    assert np.abs(c.matte("face0") + c.matte("face1") - all_faces).max() <= 1 / 255


def test_data_window_is_the_union_of_the_faces(two_faces):
    folder, result = two_faces
    spec = oiio.ImageInput.open(str(folder / "o.0001.exr")).spec()
    rois = np.array([layer.roi for layer in result.layers])
    assert (spec.x, spec.y) == tuple(rois[:, :2].min(0))
    assert (spec.x + spec.width, spec.y + spec.height) == tuple(rois[:, 2:].max(0))
    assert (spec.full_width, spec.full_height) == (result.plate.shape[1], result.plate.shape[0])
    layers, _ = read_exr_layers(folder / "o.0001.exr")
    assert layers["facemask.A"].sum() == pytest.approx(result.face_mask.sum(), rel=1e-3)
    write_passes(folder / "half.exr", result, ("face", "facemask", "mattes"))  # no 32-bit layer: a half file
    spec = oiio.ImageInput.open(str(folder / "half.exr")).spec()
    assert str(spec.format) == "half" and not spec.channelformats and spec.width < result.plate.shape[1]


def test_stmap_reprojects_the_aligned_face_onto_the_plate(two_faces):
    """Nuke's STMap (bilinear, pixel centres, bottom-left origin) of each face's patch through the stmap pass:
    the same pixels as warping the patch into the plate bilinearly (the geometry is exact), and the face pass's
    colours up to the interpolation (facecomp warps with bicubic)."""
    folder, result = two_faces
    layers, _ = read_exr_layers(folder / "o.0001.exr")
    s, t = layers["stmap.R"], layers["stmap.G"]
    face = np.stack([layers["face.B"], layers["face.G"], layers["face.R"]], axis=-1)
    sidecar = json.loads((folder / "patches" / "o.0001.json").read_text())
    for entry, layer in zip(sidecar["faces"], result.layers, strict=True):
        x0, y0, x1, y1 = layer.roi
        linear = cv2.warpAffine(layer.patch, layer.out_mat, (x1 - x0, y1 - y0),
                                flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
        inside = layer.mask > 0
        assert np.abs(lookup(layer.patch, s[y0:y1, x0:x1], t[y0:y1, x0:x1]) - linear)[inside].max() < 1e-4
        patch, _ = read_exr_layers(folder / "patches" / entry["patch"])  # the file a compositor paints on
        rgba = lookup(np.stack([patch["B"], patch["G"], patch["R"], patch["A"]], axis=-1), s, t)
        matte = layers[f"facemask_{layer.name}.A"]
        ok = (matte > 0.5) & (rgba[..., 3] > 0.5)
        back = rgba[..., :3][ok] / rgba[..., 3:][ok]
        diff = np.abs(back - face[ok] / matte[ok][:, None])
        assert ok.sum() > 5000 and diff.mean() < 0.02 and np.percentile(diff, 95) < 0.06
    covered = np.zeros(s.shape, bool)
    for layer in result.layers:
        covered[layer.roi[1]:layer.roi[3], layer.roi[0]:layer.roi[2]] = True
    assert s[~covered].max() == 0 and t[~covered].max() == 0 and s[covered].max() > 0  # 0 outside the faces


def test_passes_info_lists_layers_faces_and_names(two_faces, data, tmp_path):
    folder, result = two_faces
    res = run_facecomp("passes", "info", folder / "o.0001.exr", "--json")
    info = json.loads(res.out)
    assert [f["name"] for f in info["faces"]] == ["face0", "face1"]
    assert all(f["matte"] == f"facemask_{f['name']}" and f["pixels"] > 1000 for f in info["faces"])
    assert [f["cryptomatte_id"] for f in info["faces"]] == [f"{cryptomatte.id_bits(n):08x}" for n in ("face0", "face1")]
    assert info["layers"]["stmap"] == ["R", "G"] and info["layers"]["CryptoFace00"] == ["R", "G", "B", "A"]
    assert info["display_window"] == [result.plate.shape[1], result.plate.shape[0]]
    assert info["cryptomattes"][0]["name"] == "CryptoFace" and info["cryptomattes"][0]["ranks"] == 4
    text = run_facecomp("passes", "info", data / "cryptomatte" / "special_chars.exr").out
    assert "равнина" in text and "6 ranks" in text and "special_chars00: red,green,blue,alpha" in text
    assert_clean_error(run_facecomp("passes", "info", tmp_path / "none.exr", check=False), "none.exr")
    (tmp_path / "bad.exr").write_bytes(b"not an exr")
    assert_clean_error(run_facecomp("passes", "info", tmp_path / "bad.exr", check=False), "bad.exr")
