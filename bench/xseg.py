"""XSeg benchmarks (run by hand, not in CI).

    .venv/bin/python bench/xseg.py speed   [--iters 6] [--resolution 256]
    .venv/bin/python bench/xseg.py quality [--minutes 5] [--resolution 128] [--auto-minutes 5]

speed: training ms/iter (batch 4) and apply ms/face, fp32 vs bf16 autocast (torch), plus ONNX Runtime apply;
every figure is also given as a ratio to the fp32 run in the same process.

quality: the hand-labelled dst frames (tests/xseg/data/dst_obama_labels.json, 33 frames of
../shared/data/video/dst_obama_speaking.mp4) are extracted with the project's extractor, their frame-space
polygons mapped into the aligned faces; XSeg trains on 20 for --minutes on the CPU and is scored (IoU at
0.5) on the other 13, next to the geometric (generic) mask and the plain landmark hull. Then the
self-supervised --auto model trains on the in_the_wild photos (occluder textures from images/no_face and
video/noface_desk_objects.mp4) and, with the generic mask, is scored on the hand-labelled occluded photos
(tests/xseg/data/wild_occlusion_labels.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
LABELS = REPO / "tests" / "xseg" / "data"

from bench.common import Row, cpu_name, load_average, print_table  # noqa: E402


def split(keys: list[str]) -> tuple[list[str], list[str]]:
    """Train on 20 of the labelled frames, test on the rest: every third frame (from the 2nd) is held out first."""
    keys = sorted(keys, key=int)
    test = keys[1::3]
    rest = [k for k in keys if k not in test]
    return rest[:20], sorted(test + rest[20:], key=int)


def measure_speed(res: int, iters: int) -> dict[str, float]:
    """Median training ms/iter (batch 4) and apply ms/face, fp32 and bf16 (and ONNX Runtime fp32 apply)."""
    import torch

    from engine.training.xseg_trainer import make_optimizer, train_step
    from engine.xseg.model import XSegNet

    torch.manual_seed(0)
    x = torch.rand(4, 3, res, res).numpy()
    y = (torch.rand(4, 1, res, res) > 0.5).float().numpy()
    results = {}
    for bf16 in (False, True):
        net = XSegNet(res)
        opt = make_optimizer(net, 1e-4, True, 0)
        times = []
        for i in range(iters + 1):
            t0 = time.perf_counter()
            train_step(net, opt, (x, y), torch.device("cpu"), bf16)
            if i:
                times.append((time.perf_counter() - t0) * 1000)
        results[f"train {'bf16' if bf16 else 'fp32'}"] = float(np.median(times))
        net.eval()
        faces = torch.rand(8, 3, res, res)
        times = []
        with torch.no_grad():
            for i in range(iters + 1):
                t0 = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    net.mask(faces)
                if i:
                    times.append((time.perf_counter() - t0) * 1000 / len(faces))
        results[f"apply {'bf16' if bf16 else 'fp32'}"] = float(np.median(times))
        if not bf16:
            results["apply onnxruntime fp32"] = _onnx_apply(net, res, iters)
    return results


def _rows(results: dict[str, float], res: int) -> list[Row]:
    rows = []
    for name, ms in results.items():
        kind = name.split()[0]
        rows.append(Row("xseg", f"{name} ({res} px{', batch 4' if kind == 'train' else ''})", ms,
                        "ms/iter" if kind == "train" else "ms/face", baseline=results[f"{kind} fp32"],
                        baseline_name="fp32 torch, same run"))
    return rows


def run(smoke: bool) -> list[Row]:
    """bench/run_all.py interface: XSeg training and apply speed, each against fp32 torch in the same run."""
    res, iters = (64, 1) if smoke else (256, 6)
    return _rows(measure_speed(res, iters), res)


def speed(args: argparse.Namespace) -> None:
    import torch

    print(f"CPU: {cpu_name()}; {load_average()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"XSeg {args.resolution} px, batch 4")
    print_table(_rows(measure_speed(args.resolution, args.iters), args.resolution))


def _onnx_apply(net, res: int, iters: int) -> float:
    from engine.training import xseg_checkpoint
    from engine.xseg.apply import XSegApplier
    from engine.xseg.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        xseg_checkpoint.save_checkpoint(Path(tmp) / "m", net, 0, {"resolution": res})
        export_onnx(Path(tmp) / "m", Path(tmp) / "m.onnx")
        applier = XSegApplier(Path(tmp) / "m.onnx", providers="cpu")
        faces = np.random.rand(8, res, res, 3).astype(np.float32)
        times = []
        for i in range(iters + 1):
            t0 = time.perf_counter()
            applier.mask(faces)
            if i:
                times.append((time.perf_counter() - t0) * 1000 / len(faces))
    return float(np.median(times))


def _faces_from_video(labels: dict, work: Path) -> Path:
    from engine.faces.extract_faceset import extract_faces
    from engine.media.frames import open_frames
    from engine.media.image_io import write_image
    from engine.xseg.mattes import import_frame_polygons

    frames = work / "frames"
    frames.mkdir(parents=True)
    wanted = {int(k) for k in labels}
    for fr in open_frames(DATA / "video" / "dst_obama_speaking.mp4"):
        if fr.number in wanted:
            write_image(frames / f"{fr.number:05d}.png", fr.image)
    extract_faces(frames, work / "aligned", face_type="whole_face", image_size=256, max_faces=1)
    import_frame_polygons(work / "aligned", {int(k): v for k, v in labels.items()})
    return work / "aligned"


def _score(folder: Path, mask_fn) -> list[float]:
    from engine.faces.faceset import list_faces, read_face
    from engine.xseg.labels import iou, label_mask

    out = []
    for f in list_faces(folder):
        img, meta = read_face(f)
        out.append(iou(mask_fn(img, meta), label_mask(meta, f)))
    return out


def quality(args: argparse.Namespace) -> None:
    import torch

    from engine.faces.masks import hull_mask
    from engine.training.xseg_trainer import XSEG_OPTIONS, train_xseg
    from engine.xseg.apply import XSegApplier
    from engine.xseg.generic import generic_mask

    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_name()}; torch {torch.get_num_threads()} threads (machine shared with other jobs: timings "
          "are contended)")
    labels = json.loads((LABELS / "dst_obama_labels.json").read_text())["frames"]
    work = Path(tempfile.mkdtemp(prefix="xseg-quality-"))
    try:
        if args.auto_only:
            _occlusions(args, work)
            return
        aligned = _faces_from_video(labels, work / "dst")
        train_keys, test_keys = split(list(labels))
        train_dir, test_dir = work / "train", work / "test"
        for d, keys in ((train_dir, train_keys), (test_dir, test_keys)):
            d.mkdir()
            for k in keys:
                shutil.copy(aligned / f"{int(k):05d}_0.jpg", d)
        opts = {o.name: o.default for o in XSEG_OPTIONS}
        opts.update(resolution=args.resolution, lr_dropout=not args.no_lr_dropout, bf16=args.bf16)
        t0, c0 = time.time(), time.process_time()
        rep = train_xseg(work / "model", [train_dir], opts, target_iter=args.iters,
                         max_seconds=args.minutes * 60 if args.minutes else None, preview_every=0, seed=1,
                         save_minutes=1e9)
        print(f"trained {rep.iteration} iterations in {time.time() - t0:.0f} s wall, "
              f"{time.process_time() - c0:.0f} s CPU at {args.resolution} px "
              f"(lr_dropout {opts['lr_dropout']}, bf16 {opts['bf16']}), last loss {rep.loss:.4f}")
        applier = XSegApplier(work / "model")
        rows = {
            "trained XSeg": _score(test_dir, lambda img, m: applier.mask_face(img, m)),
            "generic (geometric)": _score(test_dir, lambda img, m: generic_mask(m.landmarks, m.size, m.type)),
            "landmark hull": _score(test_dir, lambda img, m: hull_mask(m.landmarks, m.size)),
            "trained XSeg on its 20 training faces": _score(train_dir, lambda img, m: applier.mask_face(img, m)),
        }
        print(f"IoU against the held hand labels ({len(test_keys)} test faces; frames {', '.join(test_keys)}):")
        for name, v in rows.items():
            print(f"  {name:38s} mean {np.mean(v):.3f}  min {np.min(v):.3f}")
        if args.auto_minutes > 0 or args.auto_iters > 0:
            _occlusions(args, work)
    finally:
        if args.keep:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _occlusions(args: argparse.Namespace, work: Path) -> None:
    from engine.faces.extract_faceset import extract_faces
    from engine.training.xseg_trainer import XSEG_OPTIONS, train_xseg
    from engine.xseg.apply import XSegApplier
    from engine.xseg.generic import generic_mask
    from engine.xseg.mattes import import_frame_polygons

    doc = json.loads((LABELS / "wild_occlusion_labels.json").read_text())
    wild = work / "wild"
    extract_faces(DATA / "images" / "in_the_wild", wild, face_type="whole_face", image_size=256, max_faces=1)
    occl = work / "occluded"
    occl.mkdir()
    for name in doc["files"]:
        shutil.copy(wild / f"{Path(name).stem}_0.jpg", occl)
    import_frame_polygons(occl, {int(Path(k).stem): v for k, v in doc["files"].items()})
    opts = {o.name: o.default for o in XSEG_OPTIONS}
    opts.update(resolution=args.resolution, auto=True, bf16=args.bf16, lr_dropout=not args.no_lr_dropout)
    rep = train_xseg(work / "auto", [wild], opts, target_iter=args.auto_iters,
                     max_seconds=args.auto_minutes * 60 if args.auto_minutes else None,
                     preview_every=0, seed=2,
                     save_minutes=1e9, occluder_sources=[DATA / "images" / "no_face",
                                                         DATA / "video" / "noface_desk_objects.mp4"])
    print(f"--auto: {rep.iteration} iterations on {rep.samples} in_the_wild faces (no labels)")
    auto = XSegApplier(work / "auto")
    from engine.faces.masks import hull_mask

    h = _score(occl, lambda img, m: hull_mask(m.landmarks, m.size))
    g = _score(occl, lambda img, m: generic_mask(m.landmarks, m.size, m.type))
    a = _score(occl, lambda img, m: auto.mask_face(img, m))
    print("IoU on hand-labelled occluded faces (" + ", ".join(doc["files"]) + "):")
    print("  hull:    " + "  ".join(f"{v:.3f}" for v in h) + f"   mean {np.mean(h):.3f}")
    print("  generic: " + "  ".join(f"{v:.3f}" for v in g) + f"   mean {np.mean(g):.3f}")
    print("  --auto:  " + "  ".join(f"{v:.3f}" for v in a) + f"   mean {np.mean(a):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--iters", type=int, default=6)
    s.add_argument("--resolution", type=int, default=256)
    q = sub.add_parser("quality")
    q.add_argument("--minutes", type=float, default=5.0, help="training time limit (0 = none)")
    q.add_argument("--iters", type=int, default=0, help="training iterations (0 = until --minutes)")
    q.add_argument("--auto-minutes", type=float, default=5.0, help="--auto training time (0 = skip)")
    q.add_argument("--auto-iters", type=int, default=0)
    q.add_argument("--resolution", type=int, default=128)
    q.add_argument("--threads", type=int, default=2)
    q.add_argument("--bf16", action="store_true")
    q.add_argument("--no-lr-dropout", action="store_true")
    q.add_argument("--keep", action="store_true")
    q.add_argument("--auto-only", action="store_true", help="only the --auto / occlusion part")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    speed(args) if args.what == "speed" else quality(args)


if __name__ == "__main__":
    main()
