"""The EXR files the passes are written to: lossless for every compression offered, half values exactly numpy's
float16 rounding, channel names kept; read back as the same float32 values (NaN/inf pixels made black)."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.media.image_io import EXR_COMPRESSIONS, read_exr_layers, read_image, write_exr
from engine.swap.outputs import PASS_COMPRESSION

NAMES = ("R", "G", "B", "A", "face.R", "face.G", "face.B", "facemask.A")


def _channels() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    ch = {n: (rng.normal(0.0, 2.0, (37, 53)) ** 3).astype(np.float32) for n in NAMES}
    ch["R"][0, :7] = [np.inf, -np.inf, -0.0, 70000.0, 1e-7, 65504.0, 3e-8]  # overflow, denormals, signed zero
    return ch


def _raw(path) -> tuple[np.ndarray, oiio.ImageSpec]:
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    data = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "half"))
    inp.close()
    return data.reshape(spec.height, spec.width, spec.nchannels), spec


@pytest.mark.parametrize("compression", EXR_COMPRESSIONS)
def test_half_exr_is_numpy_float16_exactly_for_every_compression(tmp_path, compression):
    ch = _channels()
    write_exr(tmp_path / "p.exr", ch, compression=compression)
    data, spec = _raw(tmp_path / "p.exr")
    assert tuple(spec.channelnames) == NAMES and spec.format == "half" and spec.alpha_channel == 3
    assert spec.get_string_attribute("compression") == compression
    with np.errstate(over="ignore"):
        want = np.stack([ch[n] for n in NAMES], axis=-1).astype(np.float16)
    np.testing.assert_array_equal(data.view(np.uint16), want.view(np.uint16))  # bit for bit, -0.0 and inf included
    img = read_image(tmp_path / "p.exr")
    expect = want[..., [2, 1, 0]].astype(np.float32)
    expect[~np.isfinite(expect)] = 0.0
    assert img.dtype == np.float32 and img.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(img, expect)


def test_float_exr_and_lossy_compressions(tmp_path):
    ch = _channels()
    write_exr(tmp_path / "f.exr", {"R": ch["G"], "G": ch["B"], "B": ch["A"]}, half=False)
    np.testing.assert_array_equal(read_image(tmp_path / "f.exr"), np.stack([ch["A"], ch["B"], ch["G"]], axis=-1))
    with pytest.raises(ValueError, match="lossless"):
        write_exr(tmp_path / "d.exr", ch, compression="dwaa")
    assert not list(tmp_path.glob("d.exr*")) and not list(tmp_path.glob(".d.exr*"))
    assert PASS_COMPRESSION in EXR_COMPRESSIONS


def test_data_window_and_float_channels_beside_half_ones(tmp_path):
    """A data window inside a bigger display window, with 32-bit float channels beside half ones (the pass
    files' two parts): read back in place over the display window (zeros outside), the float channels bit for
    bit."""
    from engine.media.exr_parts import write_exr_parts

    ch = _channels()
    ids = np.random.default_rng(3).uniform(-1e30, 1e30, (37, 53)).astype(np.float32)
    write_exr_parts(tmp_path / "w.exr", {"face.R": ch["R"], "CryptoFace00.R": ids}, ("CryptoFace00.R",),
                    compression=PASS_COMPRESSION, data_origin=(11, 5), display_size=(100, 60))
    inp = oiio.ImageInput.open(str(tmp_path / "w.exr"))
    formats = {}
    part = 0
    while inp.seek_subimage(part, 0):
        spec = inp.spec()
        assert (spec.x, spec.y, spec.width, spec.height) == (11, 5, 53, 37)
        assert (spec.full_width, spec.full_height) == (100, 60)
        formats.update(zip(spec.channelnames, (str(spec.channelformat(i)) for i in range(spec.nchannels)),
                           strict=True))
        part += 1
    inp.close()
    assert formats == {"face.R": "half", "CryptoFace00.R": "float"}
    layers, _ = read_exr_layers(tmp_path / "w.exr")
    got = layers["CryptoFace00.R"]
    assert got.shape == (60, 100) and np.array_equal(got[5:42, 11:64].view(np.uint32), ids.view(np.uint32))
    assert got[:5].max() == 0 and got[:, :11].max() == 0 and got[42:].max() == 0
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(layers["face.R"][5:42, 11:64], ch["R"].astype(np.float16).astype(np.float32))


def test_read_image_places_a_data_window_in_the_frame(data, tmp_path):
    """An EXR whose data window is part of the frame reads as the whole frame (zeros around): ours and a
    renderer's."""
    ch = _channels()
    write_exr(tmp_path / "w.exr", {"R": ch["R"], "G": ch["G"], "B": ch["B"]}, data_origin=(11, 5),
              display_size=(100, 60))
    img = read_image(tmp_path / "w.exr")
    with np.errstate(over="ignore"):
        want = np.stack([ch[c] for c in "BGR"], axis=-1).astype(np.float16).astype(np.float32)
    want[~np.isfinite(want)] = 0.0
    assert img.shape == (60, 100, 3) and img[:5].max() == 0 and img[:, :11].max() == 0 and img[42:].max() == 0
    np.testing.assert_array_equal(img[5:42, 11:64], want)
    path = data / "cryptomatte" / "cornellBox_CryptoWildcard.0001.exr"  # 626x540 data window at x=167 of 960x540
    img = read_image(path)
    layers, _ = read_exr_layers(path)
    coverage = layers["uCryptoWildcard00.G"]  # the beauty of this file is black: place by a layer with content
    assert img.shape == (540, 960, 3) and coverage.shape == (540, 960)
    assert coverage[:, :167].max() == 0 and coverage[:, 793:].max() == 0 and coverage[:, 167:793].max() > 0.99
    np.testing.assert_array_equal(img[..., 2], layers["R"])
