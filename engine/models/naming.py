"""The mechanical rule between DeepFaceLab weight keys and our parameter names, and the array layouts.

A DFL model folder holds one weight file per part, ``<name>_<Class>_<part>.npy`` (a pickled dict, see
engine/dfl). Each key there maps to one of our state_dict keys:

    part + "." + key, with "/" -> ".", a trailing ":0" dropped, and a list element "<list>_<i>" -> "<list>.<i>"

e.g. part ``encoder``, key ``down1/downs_0/conv1/weight:0``  <->  ``encoder.down1.downs.0.conv1.weight``.

Array layouts (TF -> PyTorch):
- conv kernel (kh, kw, in, out) -> (out, in, kh, kw): permute(3, 2, 0, 1)
- conv-transpose kernel (kh, kw, out, in) -> (in, out, kh, kw): the same permute(3, 2, 0, 1)
- dense kernel (in, out) -> (out, in): transpose
- biases and other 1-D/0-D arrays: unchanged
The layout does not depend on whether DFL trained in NHWC or NCHW. GAN and code discriminators follow the
same rule with parts ``gan`` (DFL file ``GAN``) and ``code_discriminator``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import torch

from engine.errors import FacecompError

_LIST_ITEM = re.compile(r"^([A-Za-z][A-Za-z0-9]*?)_(\d+)$")
_INDEX = re.compile(r"^\d+$")
# our part name <-> DFL's file part name, where they differ
PART_FILE_NAMES = {"gan": "GAN"}


def dfl_key_to_ours(part: str, key: str) -> str:
    """``("encoder", "down1/downs_0/conv1/weight:0")`` -> ``"encoder.down1.downs.0.conv1.weight"``."""
    name = key[:-2] if key.endswith(":0") else key
    segs: list[str] = []
    for seg in name.split("/"):
        if not seg:
            raise FacecompError(f"weight key {key!r} of {part} has an empty path segment")
        m = _LIST_ITEM.match(seg)
        segs.extend(m.groups() if m else (seg,))
    return ".".join([part, *segs])


def ours_to_dfl_key(name: str) -> tuple[str, str]:
    """``"encoder.down1.downs.0.conv1.weight"`` -> ``("encoder", "down1/downs_0/conv1/weight:0")``."""
    part, *segs = name.split(".")
    out: list[str] = []
    for seg in segs:
        if _INDEX.match(seg) and out:
            out[-1] = f"{out[-1]}_{seg}"
        else:
            out.append(seg)
    return part, "/".join(out) + ":0"


def dfl_part_file_name(part: str) -> str:
    """The part name inside a DFL file name (``<name>_SAEHD_<this>.npy``)."""
    return PART_FILE_NAMES.get(part, part)


def dfl_array_to_torch(key: str, array: np.ndarray) -> torch.Tensor:
    """A DFL weight array in PyTorch's layout (``key`` names it in errors)."""
    a = np.asarray(array)
    if a.dtype.kind != "f":
        raise FacecompError(f"weight {key} has dtype {a.dtype}, expected floating point")
    if a.ndim == 4:
        a = a.transpose(3, 2, 0, 1)
    elif a.ndim == 2:
        a = a.T
    elif a.ndim > 4:
        raise FacecompError(f"weight {key} has {a.ndim} dimensions")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def torch_to_dfl_array(name: str, tensor: torch.Tensor) -> np.ndarray:
    """The inverse of :func:`dfl_array_to_torch` (our layout -> DFL's)."""
    a = tensor.detach().cpu().float().numpy()
    if a.ndim == 4:
        a = a.transpose(2, 3, 1, 0)
    elif a.ndim == 2:
        a = a.T
    return np.ascontiguousarray(a)


def dfl_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The DFL shape of a PyTorch parameter shape."""
    if len(shape) == 4:
        return (shape[2], shape[3], shape[1], shape[0])
    if len(shape) == 2:
        return (shape[1], shape[0])
    return tuple(shape)


def dfl_part_to_state_dict(part: str, weights: Mapping[str, np.ndarray],
                           expected: Mapping[str, torch.Tensor] | None = None,
                           source: str | None = None) -> dict[str, torch.Tensor]:
    """Convert one DFL part file's dict to our state_dict entries.

    With ``expected`` (e.g. ``model.state_dict()``), keys and shapes are checked: a missing, extra or
    mis-shaped weight raises FacecompError naming ``source`` and the first offending key.
    """
    out: dict[str, torch.Tensor] = {}
    for key, array in weights.items():
        if not isinstance(key, str):
            raise FacecompError(f"{part}: weight key {key!r} is not text", source)
        out[dfl_key_to_ours(part, key)] = dfl_array_to_torch(key, array)
    if expected is not None:
        want = {k: v for k, v in expected.items() if k.split(".", 1)[0] == part}
        missing = sorted(set(want) - set(out))
        extra = sorted(set(out) - set(want))
        if missing:
            raise FacecompError(f"{part}: weight {ours_to_dfl_key(missing[0])[1]} missing "
                                f"({len(missing)} missing); not this architecture", source)
        if extra:
            raise FacecompError(f"{part}: unexpected weight {ours_to_dfl_key(extra[0])[1]} "
                                f"({len(extra)} extra); not this architecture", source)
        for k, v in out.items():
            if tuple(v.shape) != tuple(want[k].shape):
                raise FacecompError(f"{part}: weight {ours_to_dfl_key(k)[1]} has shape "
                                    f"{dfl_shape(tuple(v.shape))}, this architecture needs "
                                    f"{dfl_shape(tuple(want[k].shape))}", source)
    return out


def state_dict_to_dfl_part(part: str, state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Our state_dict entries of ``part`` as a DFL weight dict (keys with ``:0``, TF layouts)."""
    prefix = part + "."
    return {ours_to_dfl_key(k)[1]: torch_to_dfl_array(k, v) for k, v in state.items() if k.startswith(prefix)}
