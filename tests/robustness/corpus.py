"""The bad-input corpus, built by the tests from the real media in ../shared/data (nothing binary is committed).

Every entry is one file (or folder) a user could plausibly hand a verb by mistake. ``build_corpus`` writes
them all into one folder and returns name -> path; facesets and model folders are built by their own helpers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from tests.conftest import DATA

VIDEO = DATA / "video" / "dst_obama_speaking.mp4"
FACE_PHOTO = DATA / "src_frames" / "twitch_000.jpg"
NO_FACE = DATA / "images" / "no_face" / "grass.jpg"


def _frame(number: int = 1) -> np.ndarray:
    from engine.media.frames import open_frames

    for frame in open_frames(VIDEO):
        if frame.number == number:
            return frame.image
    raise AssertionError("dst video too short")


def build_corpus(root: Path) -> dict[str, Path]:
    """Write the single-file bad inputs into ``root``."""
    import cv2
    from PIL import Image

    from engine.media.image_io import write_exr

    root.mkdir(parents=True, exist_ok=True)
    c: dict[str, Path] = {}
    data = VIDEO.read_bytes()
    c["empty.mp4"] = root / "empty.mp4"
    c["empty.mp4"].write_bytes(b"")
    c["truncated.mp4"] = root / "truncated.mp4"
    c["truncated.mp4"].write_bytes(data[: len(data) // 3])
    for ext in ("mp4", "jpg", "exr", "png", "onnx", "json"):
        p = root / f"text.{ext}"
        p.write_text("this is a text file, not what its name says\n" * 20)
        c[f"text.{ext}"] = p
    frame = _frame(1)
    c["frame.png"] = root / "frame.png"
    cv2.imwrite(str(c["frame.png"]), frame)
    c["jpeg_named.png"] = root / "jpeg_named.png"  # JPEG bytes behind a .png name
    c["jpeg_named.png"].write_bytes(cv2.imencode(".jpg", frame)[1].tobytes())
    c["one_pixel.png"] = root / "one_pixel.png"
    cv2.imwrite(str(c["one_pixel.png"]), frame[:1, :1])
    c["png16.png"] = root / "png16.png"
    cv2.imwrite(str(c["png16.png"]), frame.astype(np.uint16) * 257)
    c["gray.jpg"] = root / "gray.jpg"
    cv2.imwrite(str(c["gray.jpg"]), cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    c["cmyk.jpg"] = root / "cmyk.jpg"
    Image.fromarray(frame[..., ::-1]).convert("CMYK").save(c["cmyk.jpg"], "JPEG")
    c["nan.exr"] = root / "nan.exr"
    f = frame.astype(np.float32) / 255.0
    f[:40, :40] = np.nan
    f[40:80, :40] = np.inf
    f[80:120, :40] = -np.inf
    write_exr(c["nan.exr"], {"R": f[..., 2], "G": f[..., 1], "B": f[..., 0]}, half=True)
    c["no_face.jpg"] = root / "no_face.jpg"
    shutil.copy(NO_FACE, c["no_face.jpg"])
    return c


def bad_faces(folder: Path, good_face: Path) -> dict[str, Path]:
    """Faceset files with no / damaged / foreign metadata and with a path outside the workspace."""
    import cv2

    from engine.faces.faceset import _jpeg_write, read_face, write_face

    folder.mkdir(parents=True, exist_ok=True)
    img, meta = read_face(good_face)
    plain = cv2.imencode(".jpg", img)[1].tobytes()
    good = json.dumps(meta.to_json()).encode()
    out: dict[str, Path] = {"no_meta": folder / "00001_0.jpg", "damaged_json": folder / "00002_0.jpg",
                            "foreign_json": folder / "00003_0.jpg", "outside_path": folder / "00004_0.jpg"}
    out["no_meta"].write_bytes(plain)
    out["damaged_json"].write_bytes(_jpeg_write(plain, good[: len(good) // 2], out["damaged_json"]))
    foreign = json.dumps({"tool": "another", "faces": [1, 2, 3]}).encode()
    out["foreign_json"].write_bytes(_jpeg_write(plain, foreign, out["foreign_json"]))
    meta.source_filename = "../../../../../../tmp/facecomp_outside_canary.png"
    write_face(out["outside_path"], img, meta)
    return out


def unreadable_meta_ok(path: Path) -> bool:
    """True when reading the file's metadata fails cleanly (FacecompError)."""
    from engine.errors import FacecompError
    from engine.faces.faceset import read_meta

    try:
        read_meta(path)
    except FacecompError:
        return True
    return False


def tree_hash(*paths: Path) -> dict[str, str]:
    """sha256 of every file under ``paths`` (inputs must be untouched by a failing verb)."""
    out: dict[str, str] = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(folder: Path) -> list[Path]:
    """Temporary or empty files under ``folder`` (what a half-finished write leaves)."""
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*") if p.is_file() and (p.name.startswith(".") or ".tmp" in p.name
                                                             or p.stat().st_size == 0)]


class Immutable:
    """An output folder nobody may write, root included (``chattr +i`` on ext4; chmod for other users)."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Path:
        import subprocess

        if os.geteuid() == 0:
            r = subprocess.run(["chattr", "+i", str(self.path)], capture_output=True)
            if r.returncode != 0:
                import pytest

                pytest.skip(f"cannot make a folder unwritable for root here: {r.stderr.decode().strip()}")
        else:
            self.path.chmod(0o555)
        return self.path

    def __exit__(self, *exc: object) -> None:
        import subprocess

        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(self.path)], capture_output=True)
        else:
            self.path.chmod(0o755)
