"""Fixtures of the robustness tests: the bad-input corpus, bad facesets, models, and an in-process CLI runner.

Most bad inputs run the real CLI entry point (engine.cli.main) in this process: the same argument parsing,
error handling and one-line messages as the console script, without paying Python/torch start-up per case
(the CI budget of this folder is about a minute and a half). A few cases per area also run as subprocesses.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.robustness.corpus import bad_faces, build_corpus


def cli(*args: object) -> CliResult:
    """Run ``facecomp ARGS`` in this process; stdout/stderr captured, SystemExit turned into the exit code."""
    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 1
    return CliResult(int(code), out.getvalue(), err.getvalue())


def assert_fails_cleanly(res: CliResult, *names: str) -> None:
    """Non-zero exit, no traceback, one error line naming one of ``names`` (a file or folder name)."""
    text = res.err + res.out
    assert res.code != 0, f"expected a failure, got exit 0:\n{text[-2000:]}"
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in res.err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, f"expected one error line:\n{res.err[-2000:]}"
    if names:
        assert any(n in errors[0] for n in names), f"error does not name {names}: {errors[0]}"


@pytest.fixture(scope="session")
def corpus(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def bad_faceset(src_faces: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[dict[str, Path], dict[str, Path]]:
    """The bad face files, and one folder per bad face file (three good faces and the bad one, named
    ``zz_<name>``), both keyed by problem."""
    import shutil

    from engine.faces.faceset import list_faces

    root = tmp_path_factory.mktemp("bad_faces")
    singles = bad_faces(root / "all", list_faces(src_faces)[0])
    folders: dict[str, Path] = {}
    good = list_faces(src_faces)[:3]
    for name, path in singles.items():
        d = root / name
        d.mkdir()
        for g in good:
            shutil.copy(g, d / g.name)
        shutil.copy(path, d / f"zz_{path.name}")
        folders[name] = d
    return singles, folders


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A SAEHD df-ud model folder (tiny dims, random weights, iteration 3) and its exported ONNX."""
    from engine.export.onnx import export_swap_model
    from tests.quality.dfm_models import tiny_saehd_folder

    folder = tmp_path_factory.mktemp("tiny_model")
    model = tiny_saehd_folder(folder, 3)
    onnx_path = export_swap_model(model, folder.parent / "tiny_model.onnx", {"iteration": 3})
    return folder, onnx_path


@pytest.fixture(scope="session")
def other_arch_model(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder whose model.json says liae-ud while its weights are the df-ud tiny model's."""
    import json
    import shutil

    folder = tmp_path_factory.mktemp("other_arch")
    for f in tiny_model[0].iterdir():
        if f.is_file():
            shutil.copy(f, folder / f.name)
    meta = json.loads((folder / "model.json").read_text())
    meta["options"]["archi"] = "liae-ud"
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="session")
def wrong_signature_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid ONNX file that is not a face model (one Relu, input "x", output "y")."""
    import onnx
    from onnx import TensorProto, helper

    path = tmp_path_factory.mktemp("wrong_sig") / "relu.onnx"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64, 64, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64, 64, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path
