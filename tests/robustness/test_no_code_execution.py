"""No code execution from files: the package never loads pickles or other executable formats, and the data files
users hand it (faceset metadata, settings, configs, model.json, tracks, DFL pickles) are parsed as data, with size
limits.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("engine", "host_kit", "nuke_plugin", "resolve_plugin")
DFL_READER = "engine/dfl/"  # the DeepFaceLab importer reads pickles with its own opcode walker, never the unpickler
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib", "jsonpickle"}


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if ".venv" not in p.parts)


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "<expr>")  # x().eval() is not the builtin eval
    return ".".join(reversed(parts))


def scan(path: Path, root: Path = REPO) -> list[str]:
    """Unsafe loads in one source file: pickle-family imports, torch.load without weights_only=True, numpy
    loads with allow_pickle=True, yaml.load without a safe loader, eval/exec/compile calls."""
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text("utf-8"), rel)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            bad = [n for n in names if n.split(".")[0] in UNSAFE_MODULES]
            if bad:
                found.append(f"{rel}:{node.lineno}: imports {', '.join(bad)}")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        short = name.rsplit(".", 1)[-1]
        if name in ("eval", "exec", "compile", "__import__") or name.endswith("builtins.eval"):
            found.append(f"{rel}:{node.lineno}: calls {name}()")
        if name.endswith("torch.load") and not _is_true(_kw(node, "weights_only")):
            found.append(f"{rel}:{node.lineno}: torch.load without weights_only=True")
        if short in ("load", "loadtxt") and name.split(".")[0] in ("np", "numpy") and _is_true(
                _kw(node, "allow_pickle")):
            found.append(f"{rel}:{node.lineno}: {name}(allow_pickle=True)")
        if name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load"):
            loader = _kw(node, "Loader")
            if loader is None or "Safe" not in _dotted(loader):
                found.append(f"{rel}:{node.lineno}: {name} without SafeLoader")
        if short == "Unpickler" or name.endswith("pickle.loads") or name.endswith("pickle.load"):
            found.append(f"{rel}:{node.lineno}: uses the standard unpickler ({name})")
    return found


def test_package_never_loads_executable_formats():
    sources = _sources()
    assert len(sources) > 50
    problems = [p for path in sources for p in scan(path)]
    assert not problems, "\n".join(problems)


def test_the_word_pickle_appears_only_in_the_dfl_reader():
    """The project rule: not even the bare word outside the DFL importer (and docs/comments there)."""
    import re

    offenders = []
    for path in _sources():
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(DFL_READER):
            continue
        for i, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\bc?pickle\b", code) and "never pickle" not in code.lower():
                offenders.append(f"{rel}:{i}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)


def test_scanner_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "engine" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("import pickle\nimport torch, numpy as np\nx = torch.load('m.pt')\ny = np.load('a.npy', "
                   "allow_pickle=True)\neval('1')\nok = torch.load('m.pt', weights_only=True)\n")
    found = scan(bad, tmp_path)
    assert len(found) == 4, found


def test_dfl_pickle_with_code_is_refused(tmp_path):
    """A DFL-style pickle whose payload would run a command is refused by the restricted reader, and runs nothing."""
    from engine.dfl.safe_unpickle import loads_dfl_data
    from engine.errors import FacecompError

    canary = tmp_path / "ran"
    # protocol-2 pickle of os.system(f"touch {canary}") written by hand (GLOBAL + REDUCE), never unpickled here
    payload = (b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {canary}").to_bytes(4, "little") +
               f"touch {canary}".encode() + b"q\x01\x85q\x02Rq\x03.")
    with pytest.raises(FacecompError):
        loads_dfl_data(payload, tmp_path / "evil.dat")
    assert not canary.exists()
    res_dir = tmp_path / "dflmodel"
    res_dir.mkdir()
    (res_dir / "evil_SAEHD_data.dat").write_bytes(payload)
    from tests.robustness.conftest import assert_fails_cleanly, cli

    res = cli("import-dfl", "model", res_dir, tmp_path / "out")
    assert_fails_cleanly(res, "evil_SAEHD_data.dat")
    assert not canary.exists() and not (tmp_path / "out").exists()


def test_faceset_metadata_is_size_limited(tmp_path, src_faces):
    from engine.errors import FacecompError
    from engine.faces.faceset import MAX_META_BYTES, _png_write, list_faces, read_face, read_meta

    img, meta = read_face(list_faces(src_faces)[0])
    import cv2

    png = cv2.imencode(".png", img)[1].tobytes()
    huge = json.dumps({**meta.to_json(), "extra": {"pad": "x" * (MAX_META_BYTES + 1024)}}).encode()
    path = tmp_path / "huge_0.png"
    path.write_bytes(_png_write(png, huge, path))
    with pytest.raises(FacecompError, match="huge_0.png"):  # read at most MAX_META_BYTES, then refused
        read_meta(path)


def _big_toml(path: Path, mib: int) -> Path:
    """A valid TOML settings file of ``mib`` MiB (one real setting, then comment lines)."""
    line = "# " + "x" * 1021 + "\n"
    path.write_text('mode = "overlay"\n' + line * (mib * 1024))
    return path


def test_settings_and_config_files_are_size_limited(tmp_path, corpus):
    """A settings/config file of many MiB is refused before it is parsed (TOML and JSON alike)."""
    from engine.errors import FacecompError
    from engine.swap.settings import FrameSettings

    toml_file = _big_toml(tmp_path / "big.toml", 4)
    json_file = tmp_path / "big.json"
    json_file.write_text('{"mode": "overlay"}' + " " * (4 << 20))
    problems = []
    for f in (json_file, toml_file):
        try:
            FrameSettings.load(f)
            problems.append(f"{f.name}: a {f.stat().st_size >> 20} MiB settings file was parsed (no size limit)")
        except FacecompError as exc:
            if f.name not in str(exc):
                problems.append(f"{f.name}: error does not name the file: {exc}")
    assert not problems, "\n".join(problems)


def test_model_json_is_size_limited(tmp_path, tiny_model):
    """model.json is data: a 40 MiB one (valid JSON padded with spaces) is refused, not parsed."""
    import shutil

    from engine.errors import FacecompError
    from engine.training.checkpoint import read_model_json

    folder = tmp_path / "m"
    shutil.copytree(tiny_model[0], folder)
    text = (folder / "model.json").read_text()
    (folder / "model.json").write_text(text + " " * (40 << 20))
    with pytest.raises(FacecompError, match="model.json"):
        read_model_json(folder)


def test_track_and_worker_inputs_are_data(tmp_path):
    """A track whose JSON carries Python-looking payloads stays data (no eval), and a huge number is refused."""
    from engine.errors import FacecompError
    from engine.swap.track import Track

    canary = tmp_path / "ran"
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"format": "facecomp-track", "version": 1,
                             "frames": [{"frame": f"__import__('os').system('touch {canary}')", "faces": []}]}))
    with pytest.raises(FacecompError):
        Track.load(p)
    assert not canary.exists()
    p.write_text('{"format": "facecomp-track", "version": 1, "frames": [{"frame": 1' + "0" * 100000 + "}]}")
    with pytest.raises(FacecompError):
        Track.load(p)
