"""`facecomp track` with and without an XSeg model: seconds per frame and track file bytes per frame.

    .venv/bin/python bench/track_xseg.py [--frames 60] [--resolution 256]

On the first frames of ../shared/data/video/dst_obama_speaking.mp4 (faces detected, cuts, identities, smoothing:
the full `facecomp track`), once plain and once with ``xseg_model``: an XSeg of DFL's architecture (random
weights: the same compute and a mask as soft as an untrained net gives, so the PNG size is an upper bound)
exported to ONNX as `facecomp xseg export` does. Both builds run in this process; the XSeg build is compared
with the plain one (ratio = the cost of storing masks).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import DATA, Row, print_table  # noqa: E402

VIDEO = DATA / "video" / "dst_obama_speaking.mp4"


def make_xseg(folder: Path, resolution: int) -> Path:
    """An exported XSeg ONNX of DFL's architecture at ``resolution`` (random weights, seed 0)."""
    import torch

    from engine.training.xseg_checkpoint import save_checkpoint
    from engine.xseg.export import export_onnx
    from engine.xseg.model import XSegNet

    torch.manual_seed(0)
    save_checkpoint(folder / "xseg", XSegNet(resolution), 0, {"face_type": "whole_face"})
    return export_onnx(folder / "xseg", folder / "xseg.onnx")


def measure(frames: int, resolution: int, work: Path) -> dict[str, float]:
    """Seconds per frame and bytes per frame of the track, plain and with the XSeg model."""
    from engine.swap.track_build import build_track

    xseg = make_xseg(work, resolution)
    wanted = list(range(1, frames + 1))
    build_track(VIDEO, frames=wanted[:2])  # load the detector and the embedder once before timing
    out: dict[str, float] = {}
    for name, model in (("plain", None), ("xseg", xseg)):
        t0 = time.perf_counter()
        track = build_track(VIDEO, frames=wanted, xseg_model=model)
        out[f"{name} s/frame"] = (time.perf_counter() - t0) / frames
        path = work / f"{name}.track.json"
        track.save(path)
        out[f"{name} bytes/frame"] = path.stat().st_size / frames
        out[f"{name} faces"] = sum(len(f.faces) for f in track.frames.values())
    out["shaped mask bytes"] = shaped_mask_bytes(track, resolution)
    return out


def shaped_mask_bytes(track, resolution: int) -> float:
    """Mean stored size of a mask shaped as a trained XSeg's (the geometric face mask with a 2 px soft edge) at
    the track's faces: the random-weight net's noisy mask bounds the size from above, a clean mask is this."""
    import cv2
    import numpy as np

    from engine.faces.align import transform_mat, transform_points
    from engine.faces.faceset import encode_mask
    from engine.swap.track_build import MASK_PNG_COMPRESSION
    from engine.xseg.generic import generic_mask

    sizes = []
    for frame in track.frames.values():
        for face in frame.faces:
            lm = transform_points(face.landmarks, transform_mat(face.landmarks, resolution, "whole_face"))
            soft = cv2.GaussianBlur(generic_mask(lm, resolution), (0, 0), 2.0)
            sizes.append(len(encode_mask(soft, MASK_PNG_COMPRESSION)))
    return float(np.mean(sizes)) if sizes else float("nan")


def rows_from(m: dict[str, float], frames: int, resolution: int) -> list[Row]:
    where = f"{frames} frames of {VIDEO.name}, XSeg {resolution} px ONNX"
    return [
        Row("track_xseg", f"track s/frame, plain ({where})", m["plain s/frame"], "s/frame"),
        Row("track_xseg", f"track s/frame, --xseg-model ({where})", m["xseg s/frame"], "s/frame",
            baseline=m["plain s/frame"], baseline_name="plain track, same run"),
        Row("track_xseg", "track file bytes/frame, plain", m["plain bytes/frame"], "B/frame"),
        Row("track_xseg", f"track file bytes/frame, --xseg-model ({m['xseg faces']:.0f} faces)",
            m["xseg bytes/frame"], "B/frame", baseline=m["plain bytes/frame"], baseline_name="plain track",
            note="random weights: a noisy mask, the upper bound"),
        Row("track_xseg", "stored mask bytes/face shaped as a trained XSeg's (soft-edged face mask)",
            m["shaped mask bytes"], "B/face", note="a clean mask; a trained model's lie between the two"),
    ]


def run(smoke: bool) -> list[Row]:
    """The bench interface (bench/common.py): smoke = 3 frames with a 64 px XSeg, else 60 frames at 256 px."""
    frames, res = (3, 64) if smoke else (60, 256)
    with tempfile.TemporaryDirectory(prefix="track_xseg_") as tmp:
        return rows_from(measure(frames, res, Path(tmp)), frames, res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="track_xseg_") as tmp:
        rows = rows_from(measure(args.frames, args.resolution, Path(tmp)), args.frames, args.resolution)
    print_table(rows, "facecomp track with and without an XSeg model")


if __name__ == "__main__":
    main()
