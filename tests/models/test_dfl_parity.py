"""The proof that our SAEHD is DFL's: the sample DFL models reproduce DFL's own outputs (dfl_samples/*_ref.npz).

Weights are read with G's restricted reader (engine.dfl.safe_unpickle) and renamed by engine.models.naming.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.models.dfl_samples import SAMPLES, load_dfl_sample


@pytest.fixture(scope="module", params=SAMPLES, ids=[s[0] for s in SAMPLES])
def sample(request, data):
    return load_dfl_sample(data / "dfl_samples" / "models", *request.param)


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


def test_dfl_sample_reproduces_dfl_outputs(sample):
    model, ref = sample
    faces = torch.from_numpy(ref["in_face"]).permute(0, 3, 1, 2)
    with torch.no_grad():
        dst_mask, face, celeb_mask = model.swap(faces)
        out = model(faces, faces)
    got = {"pred_src_dst": nhwc(face), "pred_src_dstm": nhwc(celeb_mask), "pred_dst_dstm": nhwc(dst_mask),
           "pred_dst_dst": nhwc(out["pred_dst_dst"])}
    for key, value in got.items():
        assert value.shape == ref[key].shape
        assert float(np.abs(value - ref[key]).max()) <= 1e-5, key
