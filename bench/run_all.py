"""Run every benchmark of the project and print one table (figure, value, baseline, ratio, target, pass/miss).

    .venv/bin/python bench/run_all.py [--smoke] [--only merge,inference] [--json out.json]

Each benchmark is a module ``bench/<name>.py`` exposing ``run(smoke: bool) -> list[Row]`` (bench/common.py);
each also runs alone (``python bench/<name>.py``). ``--smoke`` runs every benchmark for a few seconds only to
prove it still works (tests/quality/test_bench_smoke.py does that); its figures mean nothing. A benchmark that
fails, or does not offer ``run(smoke)`` yet, is listed in the table as such and makes the exit code 1.
Benchmarks run in this one process, one after the other (run the full suite on a quiet machine: figures
taken while other work runs are contended, and the table's header says so).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, print_table, rows_json  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
# the suite, in the pipeline's order; helper modules of bench/ are not benchmarks
BENCHES = ("extract", "xseg", "train_step", "inference", "track_xseg", "merge", "passes", "host_roundtrip",
           "long_render")


def load(name: str) -> ModuleType | None:
    """The benchmark module bench/<name>.py (None when the file does not exist)."""
    path = BENCH_DIR / f"{name}.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def has_interface(module: ModuleType) -> bool:
    """True when the module offers ``run(smoke: bool)``."""
    fn = getattr(module, "run", None)
    if not callable(fn):
        return False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "smoke" in params


def _status(name: str, figure: str, note: str) -> Row:
    return Row(bench=name, figure=figure, value=float("nan"), note=note)


def run_bench(name: str, smoke: bool) -> tuple[list[Row], str | None]:
    """Rows of one benchmark, and an error text when it is missing, lacks the interface or failed."""
    try:
        module = load(name)
    except Exception as exc:  # noqa: BLE001 - a broken benchmark is reported, the suite goes on
        return [_status(name, "import failed", f"{type(exc).__name__}: {exc}")], f"{name}: import failed: {exc}"
    if module is None:
        return [_status(name, "not written yet", f"bench/{name}.py missing")], f"{name}: bench/{name}.py missing"
    if not has_interface(module):
        return [_status(name, "no run(smoke) yet", "see bench/common.py")], f"{name}: no run(smoke: bool) function"
    start = time.perf_counter()
    try:
        rows = list(module.run(smoke=smoke))
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        return [_status(name, "failed", f"{type(exc).__name__}: {exc}")], f"{name}: {type(exc).__name__}: {exc}"
    bad = [r for r in rows if not all(hasattr(r, a) for a in ("figure", "value", "ratio", "verdict"))]
    if not rows or bad:
        return [_status(name, "returned no rows", "run() must return list[Row]")], f"{name}: no Row results"
    print(f"[{name}: {len(rows)} figures in {time.perf_counter() - start:.1f} s]", file=sys.stderr)
    return rows, None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few seconds per benchmark (proves they run)")
    ap.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES and not (BENCH_DIR / f"{n}.py").is_file()]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    rows: list[Row] = []
    problems: list[str] = []
    for name in names:
        got, problem = run_bench(name, args.smoke)
        rows += got
        if problem:
            problems.append(problem)
    print_table(rows, "facecomp benchmarks" + (" (smoke run: figures not comparable)" if args.smoke else ""))
    if problems:
        print("\nproblems:\n  " + "\n  ".join(problems))
    if args.json:
        args.json.write_text(rows_json(rows))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

