"""Load the DFL sample SAEHD models (../shared/data/dfl_samples) into our SwapModel, for parity tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.dfl.safe_unpickle import read_dfl_data, to_plain
from engine.models import SwapModel, build_model
from engine.models.naming import dfl_part_to_state_dict

SAMPLES = (("saehd_liae_ud", "liaeud"), ("saehd_df_ud", "dfud"))
ARCH_KEYS = ("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims")


def load_dfl_sample(models: Path, name: str, prefix: str) -> tuple[SwapModel, dict[str, np.ndarray]]:
    """(model holding the DFL sample's weights in eval mode, its reference arrays from ``<name>_ref.npz``)."""
    folder = models / name
    options = to_plain(read_dfl_data(folder / f"{prefix}_SAEHD_data.dat"))["options"]
    model = build_model("saehd", {k: options[k] for k in ARCH_KEYS})
    state = model.state_dict()
    loaded = {}
    for part in model.parts():
        path = folder / f"{prefix}_SAEHD_{part}.npy"
        loaded.update(dfl_part_to_state_dict(part, read_dfl_data(path), state, str(path)))
    model.load_state_dict(loaded, strict=True)
    return model.eval(), dict(np.load(models / f"{name}_ref.npz", allow_pickle=False))
