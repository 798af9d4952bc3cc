"""The demo plan: the whole pipeline on the shared demo media, step by step as the real CLI verbs' arguments.

The engine only plans and keeps the markers; `facecomp demo` (engine/cli/demo.py) hands in the runner that
executes a verb's arguments, so no engine module imports the CLI.

src = ../shared/data/video/src_twitch_streamer.mp4, dst = ../shared/data/video/dst_obama_speaking.mp4, in a
DeepFaceLab workspace. Each finished step leaves a marker in ``workspace/.demo/``, so an interrupted demo
continues where it stopped (``--fresh`` starts over).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine import atomic
from engine.errors import FacecompError

log = logging.getLogger("facecomp")

SRC_VIDEO = "video/src_twitch_streamer.mp4"
DST_VIDEO = "video/dst_obama_speaking.mp4"

# small settings: the whole demo stays well under 15 minutes on 2 CPU cores
MODEL_FLAGS = [
    "--kind",
    "saehd",
    "--resolution",
    "64",
    "--archi",
    "liae-ud",
    "--ae-dims",
    "64",
    "--e-dims",
    "32",
    "--d-dims",
    "32",
    "--d-mask-dims",
    "16",
    "--batch-size",
    "8",
    "--face-type",
    "wf",
]


# both facesets: whole_face 256 px, the largest face of each frame
EXTRACT_FLAGS = ["--face-type", "whole_face", "--image-size", "256", "--max-faces", "1", "--overwrite"]


@dataclass
class Step:
    """One pipeline step: a name, the verb arguments to run, and what it produces."""

    name: str
    argv: list[str]
    produces: str


def default_data_dir() -> Path:
    """../shared/data beside the checkout (the repository root is two levels above this file)."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def plan(ws: Path, data: Path, iterations: int) -> list[Step]:
    """The demo's steps, in pipeline order."""
    src, dst, model = ws / "data_src", ws / "data_dst", ws / "model"
    onnx = model / "model.onnx"
    shot_faces = ["--aligned", str(dst / "aligned"), "--track", str(dst / "track.json")]  # the dst faces, smoothed
    return [
        Step("frames (dst)", ["frames", str(ws / "data_dst.mp4"), str(dst), "--overwrite"], f"{dst}/00001.png ..."),
        Step(
            "frames (src, 15 fps)",
            ["frames", str(ws / "data_src.mp4"), str(src), "--fps", "15", "--overwrite"],
            f"{src}/00001.png ...",
        ),
        Step(
            "extract (dst)",
            ["extract", str(dst), str(dst / "aligned"), *EXTRACT_FLAGS, "--debug-dir", str(dst / "aligned_debug")],
            f"{dst / 'aligned'}, {dst / 'aligned_debug'}",
        ),
        Step("extract (src)", ["extract", str(src), str(src / "aligned"), *EXTRACT_FLAGS], str(src / "aligned")),
        Step(
            "xseg apply --generic (src)", ["xseg", "apply", str(src / "aligned"), "--generic"], "masks in the src faces"
        ),
        Step(
            "xseg apply --generic (dst)", ["xseg", "apply", str(dst / "aligned"), "--generic"], "masks in the dst faces"
        ),
        Step(
            f"train SAEHD ({iterations} iterations)",
            [
                "train",
                "--model",
                str(model),
                *MODEL_FLAGS,
                "--src",
                str(src / "aligned"),
                "--dst",
                str(dst / "aligned"),
                "--target-iter",
                str(iterations),
            ],
            f"{model} (preview.png, loss.jsonl)",
        ),
        Step("export ONNX", ["export", "--model", str(model), "--out", str(onnx)], str(onnx)),
        Step(
            "track",
            ["track", str(dst), "--aligned", str(dst / "aligned"), "--out", str(dst / "track.json")],
            str(dst / "track.json"),
        ),
        Step(
            "merge",
            [
                "merge",
                "--model",
                str(onnx),
                "--frames",
                str(dst),
                *shot_faces,
                "--out",
                str(dst / "merged"),
                "--mask-out",
                str(dst / "merged_mask"),
                "--passes-out",
                str(dst / "passes"),
                "--mode",
                "overlay",
                "--mask-mode",
                "XSeg-dst",
                "--erode",
                "5",
                "--blur",
                "25",
                "--color-transfer",
                "rct",
                "--restart",
            ],
            f"{dst / 'merged'}, {dst / 'merged_mask'}, {dst / 'passes'} "
            "(EXR: face, facemask, per-face mattes, Cryptomatte, STMap)",
        ),
        Step(
            "video result.mp4",
            ["video", str(dst / "merged"), str(ws / "result.mp4"), "--reference", str(ws / "data_dst.mp4")],
            str(ws / "result.mp4"),
        ),
        Step(
            "video result_mask.mp4",
            ["video", str(dst / "merged_mask"), str(ws / "result_mask.mp4"), "--reference", str(ws / "data_dst.mp4")],
            str(ws / "result_mask.mp4"),
        ),
        Step(
            "report (quality figures)",
            [
                "report",
                "--model",
                str(onnx),
                "--src",
                str(src / "aligned"),
                "--dst",
                str(dst),
                *shot_faces,
                "--out",
                str(ws / "report"),
                "--max-frames",
                "60",
            ],
            f"{ws / 'report'} (report.json, report.html)",
        ),
    ]


def run_demo(
    workspace: Path,
    data: Path | None = None,
    iterations: int = 1500,
    fresh: bool = False,
    *,
    runner: Callable[[list[str]], int],
) -> list[tuple[Step, float]]:
    """Run (or continue) the demo in ``workspace`` with ``runner`` (verb arguments -> exit code; the CLI passes
    its entry point); returns each step with its seconds."""
    data = data or default_data_dir()
    for video in (SRC_VIDEO, DST_VIDEO):
        if not (data / video).is_file():
            raise FacecompError(
                "demo media not found (the shared data folder must sit beside the checkout)", data / video
            )
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    marks = workspace / ".demo"
    marks.mkdir(parents=True, exist_ok=True)
    for name, video in (("data_src.mp4", SRC_VIDEO), ("data_dst.mp4", DST_VIDEO)):
        if not (workspace / name).exists():
            with atomic.atomic_path(workspace / name) as tmp:
                shutil.copyfile(data / video, tmp)
    run = runner
    done: list[tuple[Step, float]] = []
    steps = plan(workspace, data, iterations)
    for i, step in enumerate(steps, 1):
        mark = marks / f"{i:02d}.done"
        if mark.exists():
            log.info(f"[{i}/{len(steps)}] {step.name}: done earlier")
            continue
        log.info(f"[{i}/{len(steps)}] {step.name}: facecomp {' '.join(step.argv)}")
        t0 = time.perf_counter()
        code = run(step.argv)
        if code:
            raise FacecompError(
                f"demo step '{step.name}' failed (exit {code}); fix it and run the demo again to continue"
            )
        seconds = time.perf_counter() - t0
        atomic.write_text(mark, f"{seconds:.1f}\n")
        done.append((step, seconds))
    return done
