"""The engine's shape, kept by CI: ruff, mypy (check_untyped_defs) and the layer order as an import-linter
contract (cli -> quality/dfl/worker -> training -> swap -> export -> xseg/models -> faces -> media -> core)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_ruff_clean() -> None:
    res = _run(str(BIN / "ruff"), "check", "engine", "tests", "bench")
    assert res.returncode == 0, res.stdout[-4000:]


def test_layer_contract_holds_with_at_most_one_exception() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = config["contracts"]
    assert contract["type"] == "layers"
    assert len(contract.get("ignore_imports", [])) <= 1
    res = _run(str(BIN / "lint-imports"), "--no-cache")
    assert res.returncode == 0, res.stdout[-4000:]


def test_no_engine_module_imports_the_cli() -> None:
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("engine/cli/") or rel == "engine/__main__.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "engine.cli" in text.replace("engine.cli_", ""):
            offenders.append(rel)
    assert not offenders


def test_mypy_clean() -> None:
    """mypy with the [tool.mypy] config (incremental cache in .mypy_cache: later runs take seconds)."""
    res = _run(sys.executable, "-m", "mypy")
    assert res.returncode == 0, res.stdout[-4000:]
