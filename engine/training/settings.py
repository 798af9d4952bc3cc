"""What one training run is told: the model folder, kind, options, facesets and the loop's settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PIPELINES = ("auto", "device", "host")  # where training samples are augmented (--sample-pipeline)
OFF_WORDS = ("0", "no", "off", "false")


def switched_off(name: str) -> bool:
    """Whether the environment variable ``name`` turns a default-on behaviour off (0, no, off or false)."""
    return os.environ.get(name, "1").lower() in OFF_WORDS


@dataclass
class TrainSettings:
    """Everything a training run needs (the CLI fills it in; engine.training.run_plan decides options)."""

    model_dir: Path
    kind: str
    options: dict[str, Any]
    src: Path
    dst: Path
    device: str = "auto"
    precision: str = "auto"
    save_every_min: float = 25.0
    save_every_iter: int = 0
    preview_every: int = 100
    max_iterations: int = 0  # stop after this many iterations of this run (0 = only target_iter / signals)
    workers: int = 0  # sample-generator threads; 0 = 1 on CPU (compute needs the cores), up to 4 for a GPU
    pipeline: str = "auto"  # samples augmented on the training "device" or on the "host"; auto: device on CUDA
    seed: int = 0
    reset_parts: list[str] = field(default_factory=list)
    reset_iteration: bool = False  # pretrain switched off: DFL restarts the count at 0
    reset_gan: bool = False
    save_at_start: bool = False  # options changed or parts reset: the folder reflects it at once
    quiet: bool = False
    stop_at: int = 0  # save and stop at this model iteration (the next action of a schedule; 0 = none)
    extra_meta: dict[str, Any] = field(default_factory=dict)  # more model.json fields (the schedule's state)
    tensorboard: bool = False  # event files in model/tensorboard (rank 0)
    channels_last: bool | None = None  # NHWC weights and inputs; None: FACECOMP_CHANNELS_LAST or the device's default
    tune_threads: bool = True  # CPU: keep the faster compute-thread count (thread_tuner); False: keep the count set
