"""Fixtures of the trainer tests: tiny model options and one tiny SAEHD trained once per session from the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_facecomp

# the smallest SAEHD DFL allows (res 64, dims at their minimum but ae): fast on 1 CPU thread
TINY = ["--resolution", "64", "--ae-dims", "32", "--e-dims", "16", "--d-dims", "16", "--d-mask-dims", "16",
        "--batch-size", "4"]
FAST = ["--threads", "1", "--quiet", "--preview-every", "10"]


def loss_rows(model: Path) -> list[dict]:
    return [json.loads(line) for line in (model / "loss.jsonl").read_text().splitlines() if line.strip()]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.fixture(scope="session")
def tiny_saehd(src_faces: Path, dst_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A liae-ud SAEHD trained 40 iterations from the CLI (read-only for tests: copy it before changing it)."""
    model = tmp_path_factory.mktemp("tiny_saehd") / "model"
    run_facecomp("train", "--model", model, "--kind", "saehd", "--src", src_faces, "--dst", dst_faces,
                 "--archi", "liae-ud", *TINY, "--target-iter", "40", *FAST)
    return model


@pytest.fixture
def tiny_copy(tiny_saehd: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny model."""
    dst = tmp_path / "model"
    shutil.copytree(tiny_saehd, dst)
    return dst


def run_inprocess(*args: object) -> CliResult:
    """The CLI in this process (for error cases: no interpreter start-up); never for training runs."""
    import contextlib
    import io

    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return CliResult(code, out.getvalue(), err.getvalue())
