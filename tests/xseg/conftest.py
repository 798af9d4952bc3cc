"""XSeg test fixtures: labelled copies of the shared dst faceset, a tiny trained model, damaged face files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_facecomp

HERE = Path(__file__).resolve().parent
LABELS = HERE / "data" / "dst_obama_labels.json"


def frame_labels() -> dict[int, list[dict]]:
    """Hand-made frame-space polygons of the dst video (see data/dst_obama_labels.json "how")."""
    return {int(k): v for k, v in json.loads(LABELS.read_text())["frames"].items()}


@pytest.fixture(scope="session")
def labelled_faces(dst_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``dst_faces`` (frames 1-40) with the hand labels of frames 1, 9, 17, 25, 33 as polygons."""
    out = tmp_path_factory.mktemp("xseg_labelled") / "aligned"
    shutil.copytree(dst_faces, out)
    run_facecomp("xseg", "import-mattes", out, "--mattes", LABELS)
    return out


@pytest.fixture(scope="session")
def tiny_model(labelled_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XSeg model folder trained for 2 iterations at 64 px through the CLI."""
    model = tmp_path_factory.mktemp("xseg_model") / "xseg"
    run_facecomp("xseg", "train", "--model", model, "--facesets", labelled_faces, "--target-iter", 2,
                 "--resolution", 64, "--batch-size", 2, "--seed", 3, "--preview-every", 0)
    return model


def copy_faces(src: Path, dest: Path, n: int | None = None) -> Path:
    """The first ``n`` face files of ``src`` copied into ``dest`` (created)."""
    dest.mkdir(parents=True)
    files = sorted(p for p in src.iterdir() if p.suffix == ".jpg")
    for p in files[:n] if n else files:
        shutil.copy2(p, dest / p.name)
    return dest
