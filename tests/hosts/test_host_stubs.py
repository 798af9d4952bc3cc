"""The host glue against the hosts' published stubs: mypy with types-nuke (nuke_plugin/, host_kit/) and
fusionscript-stubs (resolve_plugin/), and the doubles' public API compared with the stubs, so a double cannot offer
a call the real module lacks."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from hostkit import HERE, NUKE_PLUGIN, REPO, RESOLVE_PLUGIN

MYPY_INI = HERE / "mypy_hosts.ini"


def _site_stubs(name: str) -> Path:
    import site

    for folder in site.getsitepackages():
        if (Path(folder) / name).is_dir():
            return Path(folder) / name
    pytest.fail(f"{name} is not installed (requirements-dev.txt)")


def _mypy(cwd: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    env = {"MYPYPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(MYPY_INI), *targets], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=env)


def test_nuke_plugin_type_checks_against_types_nuke():
    _site_stubs("nuke-stubs")
    modules = [a for p in sorted(NUKE_PLUGIN.glob("facecomp_*.py")) + [NUKE_PLUGIN / "prerender.py",
                                                                        NUKE_PLUGIN / "selftest.py"]
               for a in ("-m", p.stem)]
    kit = [a for p in sorted((REPO / "host_kit").glob("*.py")) if p.stem != "__init__"
           for a in ("-m", f"host_kit.{p.stem}")]
    r = _mypy(NUKE_PLUGIN, *modules, *kit)
    assert r.returncode == 0, r.stdout + r.stderr
    r = _mypy(NUKE_PLUGIN, "init.py", "menu.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_resolve_plugin_type_checks_against_fusionscript_stubs():
    _site_stubs("fusionscript-stubs")
    r = _mypy(RESOLVE_PLUGIN, *(a for p in sorted(RESOLVE_PLUGIN.glob("facecomp_*.py")) for a in ("-m", p.stem)))
    assert r.returncode == 0, r.stdout + r.stderr


def _stub_api(folder: Path) -> tuple[set[str], dict[str, set[str]], dict[str, list[str]]]:
    """Module-level names, each class's own members and each class's bases, over every .pyi of a stub package."""
    names: set[str] = set()
    members: dict[str, set[str]] = {}
    bases: dict[str, list[str]] = {}
    for pyi in folder.glob("*.pyi"):
        for node in ast.parse(pyi.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                names.add(node.name)
                members.setdefault(node.name, set()).update(
                    n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
                members[node.name].update(t.id for n in node.body if isinstance(n, ast.AnnAssign | ast.Assign)
                                          for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                                          if isinstance(t, ast.Name))
                bases.setdefault(node.name, []).extend(b.id for b in node.bases if isinstance(b, ast.Name))
            elif isinstance(node, ast.FunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names, members, bases


def _all_members(cls: str, members: dict[str, set[str]], bases: dict[str, list[str]]) -> set[str]:
    out = set(members.get(cls, set()))
    for base in bases.get(cls, []):
        out |= _all_members(base, members, bases)
    return out


def _public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_the_nuke_double_offers_nothing_types_nuke_lacks():
    import nuke

    names, members, bases = _stub_api(_site_stubs("nuke-stubs"))
    imported = {"Any", "annotations"}  # the double's own imports (typing, __future__), not API
    module_extra = {n for n in _public(nuke) if not inspect.ismodule(getattr(nuke, n))} - names - imported
    assert not module_extra, f"the nuke double has module names real Nuke lacks: {sorted(module_extra)}"
    for name in sorted(_public(nuke)):
        cls = getattr(nuke, name)
        if not inspect.isclass(cls) or name not in members:
            continue
        own = {m for m in _public(cls) if not isinstance(getattr(cls, m, None), property)}
        if issubclass(cls, BaseException):
            own -= _public(BaseException)
        extra = own - _all_members(name, members, bases) - {"type_id"}
        assert not extra, f"nuke.{name} of the double has {sorted(extra)}, which types-nuke's {name} lacks"


def test_the_fusion_doubles_resolve_matches_fusionscript_stubs():
    import fusionscript

    _, members, bases = _stub_api(_site_stubs("fusionscript-stubs"))
    extra = _public(fusionscript.Resolve) - _all_members("Resolve", members, bases)
    assert not extra, f"the double's Resolve has {sorted(extra)}, which fusionscript-stubs' Resolve lacks"
    # fusionscript-stubs 21.0.0 declares Fusion and FusionComp as empty classes: the comp/tool API of the double
    # follows Blackmagic's Fusion Scripting Guide and ayon-fusion instead (cited in tests/hosts/doubles)
    assert members.get("FusionComp") == set(), "fusionscript-stubs now documents FusionComp: compare it here"
