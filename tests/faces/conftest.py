"""Fixtures of the face tests: one extractor per session and small facesets built from real media."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.faces.extract_faceset import FaceExtractor, extract_faces


@pytest.fixture(scope="session")
def extractor() -> FaceExtractor:
    return FaceExtractor()


@pytest.fixture(scope="session")
def multi_faces(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """whole_face 128 px faceset of images/multi_face/two_people.jpg and kit_with_rose.jpg (2 faces each)."""
    frames = tmp_path_factory.mktemp("multi_frames")
    for name in ("two_people.jpg", "kit_with_rose.jpg"):
        shutil.copy(data / "images" / "multi_face" / name, frames / name)
    out = tmp_path_factory.mktemp("multi_faces")
    extract_faces(frames, out, image_size=128)
    return out


@pytest.fixture()
def mixed_faces(dst_faces: Path, src_faces: Path, multi_faces: Path, tmp_path: Path) -> Path:
    """A throw-away faceset to sort: 6 dst faces (one person), 4 src faces (another), the 4 multi faces."""
    out = tmp_path / "aligned"
    out.mkdir()
    for src, n in ((dst_faces, 6), (src_faces, 4), (multi_faces, 4)):
        for p in sorted(src.iterdir())[:n]:
            shutil.copy(p, out / p.name)
    return out
