"""The benchmark suite still runs: every benchmark that offers ``run(smoke)`` runs its smoke mode (a few seconds)."""

from __future__ import annotations

import math
import sys

from tests.conftest import REPO

sys.path.insert(0, str(REPO))

from bench import run_all  # noqa: E402
from bench.common import Row, format_table  # noqa: E402


def test_every_benchmark_with_the_interface_runs_its_smoke_mode(capsys):
    ran, missing = [], []
    for name in run_all.BENCHES:
        module = run_all.load(name)
        if module is None or not run_all.has_interface(module):
            missing.append(name)
            continue
        rows, problem = run_all.run_bench(name, smoke=True)
        assert problem is None, problem
        assert rows and all(isinstance(r, Row) for r in rows)
        assert all(math.isfinite(r.value) for r in rows), format_table(rows)
        ran.append(name)
    with capsys.disabled():
        print(f"\nbench smoke: ran {', '.join(ran) or 'none'}; without run(smoke) yet: {', '.join(missing) or 'none'}")
    assert "long_render" in ran


def test_table_marks_pass_and_miss():
    rows = [Row("x", "ms/frame", 21.0, "ms", 42.0, "DFL", 0.5, True),
            Row("x", "SSIM", 0.7, "", 0.73, "DFL paper", 1.0, False),
            Row("x", "no baseline", 3.0)]
    assert [r.verdict for r in rows] == ["pass", "miss", "-"]
    text = format_table(rows)
    assert "0.500x" in text and "pass" in text and "miss" in text
