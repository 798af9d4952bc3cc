"""The render worker behind a Nuke node never hangs and never dies silently (issue 19): every request line gets
a reply line (an error for a bad one), end of input ends the worker, and line length, JSON nesting and frames
per request are limited. Each test failed before issue 19 (the reader thread died on the first bad request).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time

import pytest

from engine.worker import limits
from engine.worker.protocol import BadRequest, parse_frames
from tests.conftest import REPO

BAD_REQUESTS = [
    '{"id": 1, "op": "cancel", "target": [1, 2]}',  # a list where an id is expected
    '{"id": 2, "op": ["render"]}',  # a list as op
    '{"id": 3, "op": {"x": 1}}',
    hostile_deep := "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser's recursion
    '{"id": 5, "op": "ping", "x": ' + "[" * 40 + "]" * 40 + "}",  # deeper than the limit
    "not json at all",
    '{"id": 7, "op": "render", "plate": "p.%04d.exr", "out": "o.%04d.exr", "frames": "1-1000000000"}',
    '{"id": 8, "op": "render", "plate": "p.%04d.exr", "out": "o.%04d.exr", "frames": [[1]]}',
    '{"id": 9, "op": "render", "plate": "p.%04d.exr", "out": "o.%04d.exr", "frames": "' + "9" * 5000 + '"}',
    '{"id": "' + "x" * (limits.MAX_LINE_CHARS + 10) + '", "op": "ping"}',  # over the line limit
    "\udcff\udcfe",  # what undecodable bytes become (the worker reads stdin with errors="replace")
]


def _serve_in_thread(lines: list[str]) -> tuple[list[dict], threading.Thread]:
    from engine.worker.server import serve

    out = io.StringIO()
    inp = io.StringIO("\n".join(lines) + "\n")
    t = threading.Thread(target=serve, args=(inp, out), kwargs={"renderer_factory": lambda *a: None}, daemon=True)
    t.start()
    t.join(30)
    return [json.loads(line) for line in out.getvalue().splitlines()], t


def test_every_request_gets_a_reply_and_end_of_input_ends_the_worker():
    replies, thread = _serve_in_thread([*BAD_REQUESTS, '{"id": "last", "op": "ping"}'])
    assert not thread.is_alive(), "the worker did not stop at end of input"
    assert len(replies) == len(BAD_REQUESTS) + 1, replies
    assert sum(r["type"] == "error" for r in replies) == len(BAD_REQUESTS)
    assert any(r["id"] == "last" and r["type"] == "result" for r in replies)
    assert all(len(json.dumps(r)) < 1000 for r in replies), "an error repeated a huge value"


def test_frame_ranges_and_lists_are_capped():
    t0 = time.perf_counter()
    for spec in ("1-1000000000", "1-99999x1 1-99999x1", list(range(limits.MAX_FRAMES + 1)), "9" * 5000, [[1]]):
        with pytest.raises(BadRequest):
            parse_frames(spec)
    assert time.perf_counter() - t0 < 2
    assert len(parse_frames(f"1-{limits.MAX_FRAMES}")) == limits.MAX_FRAMES


def test_a_real_worker_answers_bad_lines_and_exits_when_the_host_goes_away():
    proc = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = [*BAD_REQUESTS[:3], hostile_deep, BAD_REQUESTS[-2], '{"id": "alive", "op": "ping"}']
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") + b"\xff\xfe\n")
        proc.stdin.close()
        code = proc.wait(timeout=120)
        replies = [json.loads(line) for line in proc.stdout.read().decode().splitlines()]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert len(replies) == len(lines) + 1, replies
    assert any(r["id"] == "alive" and r["type"] == "result" for r in replies)
