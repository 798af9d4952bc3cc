"""Shared test fixtures: the shared real media (../shared/data) and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"  # real media, never copied into the repo

os.environ.setdefault("FACECOMP_NO_PROGRESS", "1")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_facecomp(*args: object, check: bool = True, timeout: float = 600, cwd: Path | None = None) -> CliResult:
    """Run the real `facecomp` CLI in a subprocess (``python -m engine``)."""
    r = subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, cwd=cwd or REPO)
    res = CliResult(r.returncode, r.stdout, r.stderr)
    if check and r.returncode:
        raise AssertionError(f"facecomp {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return res


def assert_clean_error(res: CliResult, mentions: str | None = None) -> None:
    """A bad input gives a non-zero exit and one short error line, no traceback."""
    assert res.code != 0, "expected failure"
    assert "Traceback" not in res.err + res.out
    lines = [l for l in res.err.splitlines() if l.strip()]
    assert 1 <= len(lines) <= 5, res.err
    if mentions:
        assert mentions in res.err, res.err


@pytest.fixture(scope="session")
def data() -> Path:
    if not DATA.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return DATA


# ---- face fixtures (shared by every area): real frames and facesets, built once per test session ----------


@pytest.fixture(scope="session")
def dst_frames(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 frames of video/dst_obama_speaking.mp4 as 00001.png .. 00040.png."""
    from engine.media.frames import open_frames
    from engine.media.image_io import write_image

    out = tmp_path_factory.mktemp("dst_frames")
    for frame in open_frames(data / "video" / "dst_obama_speaking.mp4"):
        if frame.number > 40:
            break
        write_image(out / f"{frame.number:05d}.png", frame.image)
    return out


def _extract_fixture(frames: Path, out: Path) -> Path:
    from engine.faces.extract_faceset import extract_faces

    extract_faces(frames, out, face_type="whole_face", image_size=256, max_faces=1)
    return out


@pytest.fixture(scope="session")
def dst_faces(dst_frames: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """whole_face 256 px faceset of ``dst_frames`` (one face per frame, <frame>_0.jpg)."""
    return _extract_fixture(dst_frames, tmp_path_factory.mktemp("dst_faces"))


@pytest.fixture(scope="session")
def src_faces(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """whole_face 256 px faceset of the 41 frames in ../shared/data/src_frames."""
    return _extract_fixture(data / "src_frames", tmp_path_factory.mktemp("src_faces"))
