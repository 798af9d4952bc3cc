"""Static checks of the host code: Python 3.7 grammar, stdlib only, and a gizmo that declares what the Python reads."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from hostkit import NUKE_PLUGIN, REPO, RESOLVE_PLUGIN

HEAVY = {"numpy", "torch", "onnxruntime", "cv2", "OpenImageIO", "PyOpenColorIO", "av", "engine", "scipy", "PIL"}
HOST_KIT = REPO / "host_kit"
HOST_FILES = sorted(NUKE_PLUGIN.rglob("*.py")) + sorted(RESOLVE_PLUGIN.rglob("*.py")) + sorted(HOST_KIT.rglob("*.py"))
GIZMO = REPO / "gizmos" / "FaceSwap.gizmo"
BUILTIN_NODE_KNOBS = {"name", "label", "disable", "tile_color", "xpos", "ypos", "selected", "help", "onCreate",
                      "knobChanged", "updateUI"}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_host_files_exist():
    names = {p.name for p in HOST_FILES}
    assert {"init.py", "menu.py", "facecomp_nuke.py", "facecomp_graph.py", "client.py", "sequences.py", "options.py",
            "facecomp_fusion.py", "facecomp_fusion_passes.py", "facecomp_fusion_window.py", "track.py",
            "pending.py"} <= names


@pytest.mark.parametrize("path", HOST_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_host_code_is_python37_and_stdlib_only(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 7))
    stdlib = set(sys.stdlib_module_names)
    host_modules = {"nuke", "nukescripts", "DaVinciResolveScript", "BlackmagicFusion", "fusionscript", "host_kit",
                    *(p.stem for p in HOST_FILES)}
    for name in _imports(tree):
        top = name.split(".")[0]
        assert top not in HEAVY, f"{path.name} imports {name}"
        assert top in stdlib or top in host_modules, f"{path.name} imports {name}, not in the standard library"


def _gizmo():
    from nuke._script import block_pairs, parse_user_knob, statements

    sts = statements(GIZMO.read_text(encoding="utf-8"))
    gizmo = next(st for st in sts if st[0].text == "Gizmo")
    pairs = block_pairs(gizmo[1].text)
    knobs = {parse_user_knob(tok.text).name: parse_user_knob(tok.text) for name, tok in pairs if name == "addUserKnob"}
    values = dict((name, tok.text) for name, tok in pairs if name != "addUserKnob")
    inner = {dict(block_pairs(st[1].text)).get("name").text for st in sts
             if len(st) == 2 and st[1].kind == "braced" and st[0].text not in ("Gizmo", "add_layer")}
    return knobs, values, inner


def test_gizmo_declares_every_knob_the_python_reads():
    import facecomp_nuke

    knobs, _, inner = _gizmo()
    declared = set(knobs) | BUILTIN_NODE_KNOBS
    tree = ast.parse("\n".join((NUKE_PLUGIN / name).read_text(encoding="utf-8")
                               for name in ("facecomp_nuke.py", "facecomp_graph.py", "facecomp_ui.py")))
    read = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "node" \
                and isinstance(n.slice, ast.Constant):
            read.add(n.slice.value)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_value" \
                and isinstance(n.args[1], ast.Constant):
            read.add(n.args[1].value)
        called = n.func.id if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) else \
            n.func.attr if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) else None
        if called == "inner_node" and isinstance(n.args[1], ast.Constant):
            assert n.args[1].value in inner, f"the gizmo has no inner node {n.args[1].value!r}"
    read |= set(facecomp_nuke.RENDER_KNOBS) | {k for k, _ in facecomp_nuke.SETTING_KNOBS}
    assert len(read) > 20
    assert read <= declared, f"knobs read by facecomp_nuke but missing in the gizmo: {sorted(read - declared)}"


def test_gizmo_buttons_and_callbacks_call_existing_functions():
    import facecomp_ui

    knobs, values, _ = _gizmo()
    code = [k.text for k in knobs.values() if k.type_id == 22] + [values["onCreate"], values["knobChanged"]]
    called = {m for c in code for m in re.findall(r"facecomp_ui\.(\w+)\(", c)}
    assert {"render_frame_button", "render_range_button", "make_track_button", "on_create", "knob_changed"} <= called
    assert all(callable(getattr(facecomp_ui, name, None)) for name in called)


def test_gizmo_lists_match_the_tables_the_worker_publishes():
    """The gizmo's saved lists (what a script loads with before any worker runs) equal the worker's tables; the node
    rebuilds them from hello (apply_option_tables) when the engine's tables change."""
    import facecomp_nuke

    from engine.worker.tables import option_tables
    from host_kit.options import OptionTables

    tables = OptionTables(option_tables())
    knobs, values, _ = _gizmo()
    for knob, key in facecomp_nuke.SETTING_KNOBS:
        if tables.choices(key):
            assert knobs[knob].items == tables.choices(key), knob
            assert values.get(knob, knobs[knob].items[0]) == tables.default(key), knob
        else:
            assert knobs[knob].range == tables.range(key), knob
    for knob in facecomp_nuke.RENDER_CHOICE_KNOBS:
        assert knobs[knob].items == tables.choices(knob), knob
    assert values["faces"] == tables.default("faces") == "all"


def _old_pythons() -> list[str]:
    import glob
    import shutil

    found = [p for p in (shutil.which(f"python3.{m}") for m in (6, 7)) if p and "shims" not in p]
    found += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.[67].*" / "bin" / "python")))
    return [p for p in dict.fromkeys(found) if p]


@pytest.mark.skipif(not _old_pythons(), reason="no Python 3.6/3.7 interpreter here (pyenv)")
def test_host_client_runs_on_old_pythons(media, tmp_path):
    """Nuke 13's Python 3.7 (and Resolve's 3.6 floor) run the real client against the real worker."""
    import subprocess

    from hostkit import facecomp_exe

    script = f"""
import sys
sys.path[:0] = [{str(REPO)!r}, {str(RESOLVE_PLUGIN)!r}]
from host_kit import client as fc, sequences, options, track
import facecomp_fusion
assert sequences.sequence_pattern('/a/plate.1001.exr') == ('/a/plate.%04d.exr', 1001)
w = fc.WorkerClient(fc.facecomp_command({facecomp_exe()!r}))
hello = w.start()
assert options.OptionTables.from_hello(hello).choices('mode')[1] == 'overlay'
w.load({str(media['model'])!r})
r = w.render(plate={str(media['plate'])!r}, frames='1001', out={str(tmp_path / 'o.%04d.exr')!r})
w.close()
print(sys.version_info[:2], r['frames'])
"""
    for python in _old_pythons():
        r = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "[1001]" in r.stdout
