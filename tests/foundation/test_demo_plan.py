"""The demo's plan: every step is a real verb whose arguments parse, in pipeline order, ending in a report."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import build_parser
from engine.demo import plan, run_demo
from engine.errors import FacecompError


def test_every_demo_step_parses_with_its_verb(tmp_path: Path) -> None:
    steps = plan(tmp_path / "ws", tmp_path / "data", iterations=10)
    verbs = [s.argv[0] for s in steps]
    assert verbs[0] == "frames" and verbs[-1] == "report"
    assert verbs.index("extract") < verbs.index("train") < verbs.index("export") < verbs.index("merge")
    for step in steps:
        args = build_parser(step.argv[0]).parse_args(step.argv[1:])
        assert callable(args._run), step.name


def test_demo_without_media_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FacecompError, match="demo media not found"):
        run_demo(tmp_path / "ws", tmp_path / "no_data", iterations=1, runner=lambda argv: 0)
    assert not (tmp_path / "ws").exists()


def test_demo_continues_after_the_last_finished_step(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "video").mkdir(parents=True)
    for name in ("src_twitch_streamer.mp4", "dst_obama_speaking.mp4"):
        (data / "video" / name).write_bytes(b"not a video")
    calls: list[list[str]] = []

    def fails_on_extract(argv: list[str]) -> int:
        calls.append(argv)
        return 1 if argv[0] == "extract" else 0

    ws = tmp_path / "ws"
    with pytest.raises(FacecompError, match="extract"):
        run_demo(ws, data, iterations=1, runner=fails_on_extract)
    first = [c[0] for c in calls]
    assert first == ["frames", "frames", "extract"]
    calls.clear()
    run_demo(ws, data, iterations=1, runner=lambda argv: calls.append(argv) or 0)
    assert calls[0][0] == "extract" and calls[-1][0] == "report"
