"""`facecomp frames`: real video decode, DFL naming, sequences keep numbers, clean errors on bad video."""

from pathlib import Path

import av

from engine.media.frames import open_frames
from tests.conftest import assert_clean_error, run_facecomp


def test_video_to_numbered_frames(data: Path, tmp_path: Path) -> None:
    video = data / "video" / "dst_obama_speaking.mp4"
    with av.open(str(video)) as c:
        n = sum(1 for _ in c.decode(video=0))
    run_facecomp("frames", video, tmp_path / "dst")
    names = sorted(p.name for p in (tmp_path / "dst").iterdir())
    assert len(names) == n
    assert names[0] == "00001.png" and names[-1] == f"{n:05d}.png"


def test_lower_fps_and_sequence_numbers(data: Path, tmp_path: Path) -> None:
    video = data / "video" / "src_twitch_streamer.mp4"
    full = len(open_frames(video))
    run_facecomp("frames", video, tmp_path / "src", "--fps", "10", "--format", "jpg")
    got = sorted((tmp_path / "src").glob("*.jpg"))
    fps = float(open_frames(video).fps)
    assert abs(len(got) - full * 10 / fps) <= 2
    # an image sequence keeps its frame numbers
    for i, p in enumerate(got[:3]):
        p.rename(tmp_path / f"plate.{1001 + i:04d}.jpg")
    seq = open_frames(str(tmp_path / "plate.%04d.jpg"))
    assert seq.numbers == [1001, 1002, 1003]
    run_facecomp("frames", tmp_path / "plate.####.jpg", tmp_path / "re", "--format", "exr")
    assert sorted(p.name for p in (tmp_path / "re").iterdir()) == ["01001.exr", "01002.exr", "01003.exr"]


def test_bad_videos_give_one_line_and_write_nothing(data: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "text.mp4"
    text.write_text("not a video")
    trunc = tmp_path / "trunc.mp4"
    trunc.write_bytes((data / "video" / "dst_obama_speaking.mp4").read_bytes()[:50000])
    for bad in (empty, text, trunc):
        out = tmp_path / f"out_{bad.stem}"
        assert_clean_error(run_facecomp("frames", bad, out, check=False), bad.name)
        assert not out.exists() or not any(out.iterdir())
