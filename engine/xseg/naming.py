"""DeepFaceLab XSeg weight keys <-> facecomp parameter names, and array layouts.

DFL saves ``XSeg_256.npy`` as a dict ``{key: ndarray}`` whose keys are the leras variable paths without the
model name, e.g. ``conv01/conv/weight:0``, ``conv01/frn/eps:0``, ``conv01/tlu/tau:0``, ``up5/conv/bias:0``,
``dense1/weight:0``, ``out_conv/weight:0``. The rule is mechanical:

* name: drop ``:0``, replace ``/`` with ``.`` -> ``conv01.conv.weight``, ``conv01.frn.eps``, ``up5.conv.bias``.
* conv kernels: DFL HWIO -> torch OIHW (``permute(3, 2, 0, 1)``); transposed-conv kernels: DFL (k, k, out, in)
  -> torch (in, out, k, k) (the same permutation); dense kernels: DFL (in, out) -> torch (out, in) (transpose).
* biases, FRN ``weight``/``bias``/``eps`` and TLU ``tau``: 1-D, reshaped to the torch shape (DFL may store
  them with leading unit axes).

``dfl_key_to_ours`` and ``dfl_array_to_torch`` implement it; ``ours_to_dfl_key`` is the inverse name rule.
"""

from __future__ import annotations

import numpy as np
import torch

_KERNEL_PERMUTE = (3, 2, 0, 1)


def dfl_key_to_ours(key: str) -> str:
    """``conv01/frn/eps:0`` -> ``conv01.frn.eps``."""
    name = key.split(":", 1)[0].strip("/")
    return name.replace("/", ".")


def ours_to_dfl_key(name: str) -> str:
    """``conv01.frn.eps`` -> ``conv01/frn/eps:0``."""
    return name.replace(".", "/") + ":0"


def dfl_array_to_torch(key: str, array: np.ndarray, shape: tuple[int, ...] | torch.Size | None = None) -> torch.Tensor:
    """One DFL array in the layout of the matching torch parameter (``shape``, when given, is checked)."""
    a = np.asarray(array, np.float32)
    name = dfl_key_to_ours(key)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "weight" and a.ndim == 4:
        a = a.transpose(_KERNEL_PERMUTE)
    elif leaf == "weight" and a.ndim == 2:
        a = a.T
    elif shape is not None and a.size == int(np.prod(shape)):
        a = a.reshape(tuple(shape))
    t = torch.from_numpy(np.ascontiguousarray(a))
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError(f"{key}: shape {tuple(array.shape)} does not fit {tuple(shape)}")
    return t


def torch_to_dfl_array(name: str, tensor: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`dfl_array_to_torch` (for tests and for writing DFL-layout files)."""
    a = tensor.detach().cpu().float().numpy()
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "weight" and a.ndim == 4:
        return np.ascontiguousarray(a.transpose(2, 3, 1, 0))
    if leaf == "weight" and a.ndim == 2:
        return np.ascontiguousarray(a.T)
    return a


def state_dict_from_dfl(weights: dict[str, np.ndarray], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A full state dict for ``model`` from DFL's key->array dict; raises ValueError on missing/extra keys."""
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, arr in weights.items():
        name = dfl_key_to_ours(key)
        if name not in own:
            raise ValueError(f"unexpected XSeg weight {key}")
        out[name] = dfl_array_to_torch(key, arr, own[name].shape)
    missing = sorted(set(own) - set(out))
    if missing:
        raise ValueError(f"missing XSeg weights: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return out
