"""Reconstruction quality: SSIM / PSNR of src->src and dst->dst on faces, from the trained model folder.

An exported DFM graph only computes src-from-dst (``out_celeb_face``), which has no ground truth; the
self-reconstructions need the decoders the export leaves out, so this part of the report runs the PyTorch
model of the folder (``--model-dir``, or the folder the .onnx was exported into). Faces are served exactly as
the trainer serves them (engine.training.samples.Faceset: the model's resolution and face type, no warp, no
augmentation) and compared inside their face mask (XSeg mask stored in the faceset, else the landmark hull).

The faces measured are those of ``--recon-src`` / ``--recon-dst`` (default: the report's src faceset and the
dst aligned faceset). A face the model was trained on measures memorisation, not generalisation: the report
says ``held_out: true`` only when none of the measured folders is one the model was trained on (model.json
"training"); pass folders of faces kept out of training for a held-out figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.quality import metrics

BATCH = 8


def _same_folder(a: str | os.PathLike[str] | None, b: Path) -> bool:
    if not a:
        return False
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


def _faces(faceset: Any, limit: int) -> list[int]:
    n = len(faceset)
    return sorted({int(i) for i in np.linspace(0, n - 1, min(limit, n)).round()})


def _batch(faceset: Any, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    samples = [faceset.load(i) for i in indices]
    images = np.stack([s.image for s in samples]).astype(np.float32) / 255.0
    masks = np.stack([s.mask for s in samples]).astype(np.float32) / 255.0
    return images, masks


def reconstruction(model_dir: Path, src_folder: Path, dst_folder: Path, limit: int = 32) -> dict[str, Any]:
    """SSIM/PSNR (face-masked means) of the model's src->src and dst->dst reconstructions."""
    import torch

    from engine.training.checkpoint import load_model
    from engine.training.samples import Faceset

    model, meta = load_model(model_dir)
    res, ft = model.resolution, model.face_type
    src, dst = Faceset(src_folder, res, ft), Faceset(dst_folder, res, ft)
    src_idx, dst_idx = _faces(src, limit), _faces(dst, limit)
    n = min(len(src_idx), len(dst_idx))
    # forward() takes src and dst batches of one size: pair them, cycling the shorter list
    src_idx = [src_idx[i % len(src_idx)] for i in range(max(len(src_idx), len(dst_idx)))]
    dst_idx = [dst_idx[i % len(dst_idx)] for i in range(len(src_idx))]
    scores: dict[str, list[tuple[float, float]]] = {"src": [], "dst": []}
    seen: dict[str, set[int]] = {"src": set(), "dst": set()}
    with torch.inference_mode():
        for start in range(0, len(src_idx), BATCH):
            s_i, d_i = src_idx[start:start + BATCH], dst_idx[start:start + BATCH]
            s_img, s_msk = _batch(src, s_i)
            d_img, d_msk = _batch(dst, d_i)
            out = model(torch.from_numpy(s_img).permute(0, 3, 1, 2), torch.from_numpy(d_img).permute(0, 3, 1, 2))
            for side, idx, img, msk, key in (("src", s_i, s_img, s_msk, "pred_src_src"),
                                             ("dst", d_i, d_img, d_msk, "pred_dst_dst")):
                pred = out[key].float().clamp(0, 1).permute(0, 2, 3, 1).numpy()
                for j, face in enumerate(idx):
                    if face in seen[side]:
                        continue
                    seen[side].add(face)
                    scores[side].append((metrics.ssim(pred[j], img[j], msk[j]), metrics.psnr(pred[j], img[j], msk[j])))
    trained = meta.get("training") or {}
    trained = trained if isinstance(trained, dict) else {}
    held_out = not any(_same_folder(trained.get(side), folder) for side in ("src", "dst")
                       for folder in (src_folder, dst_folder))

    def mean(side: str, k: int) -> float | None:
        return round(float(np.mean([s[k] for s in scores[side]])), 4) if scores[side] else None

    return {
        "available": True,
        "ssim_src": mean("src", 0), "psnr_src": mean("src", 1),
        "ssim_dst": mean("dst", 0), "psnr_dst": mean("dst", 1),
        "faces_src": len(scores["src"]), "faces_dst": len(scores["dst"]), "pairs": n,
        "src_folder": str(src_folder), "dst_folder": str(dst_folder),
        "held_out": held_out,
        "resolution": res, "face_type": ft,
        "method": "mask-weighted SSIM (11x11 Gaussian, sigma 1.5) and PSNR of the model's pred_src_src / "
                  "pred_dst_dst against the unwarped input face, at the model's resolution and face type",
    }


def unavailable(reason: str) -> dict[str, Any]:
    """The reconstruction section when there is no model folder to run."""
    return {"available": False, "reason": reason, "ssim_src": None, "psnr_src": None, "ssim_dst": None,
            "psnr_dst": None}
