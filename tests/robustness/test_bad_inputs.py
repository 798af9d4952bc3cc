"""Every verb that reads files, fed the bad-input corpus (tests/robustness/corpus.py).

For each case: exit code != 0 with one error line naming the file and no traceback (``FAIL``; ``ANY``: either
this or exit 0), or a documented skip / accepted input with exit 0 and no traceback (``OK``: a frame without a
face, a grayscale or CMYK JPEG, a 16-bit PNG, a JPEG behind a .png name, an EXR with NaN/inf pixels are all
legitimate images). After every case: the inputs are byte-identical and the output holds no temporary or empty
(half-written) file. Cases run in-process through the real CLI entry point (engine.cli.main);
test_subprocess_cases checks a few the way a user runs them. All problems of a verb are reported together.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import VERBS
from tests.conftest import run_facecomp
from tests.robustness.conftest import assert_fails_cleanly, cli
from tests.robustness.corpus import Immutable, leftovers, tree_hash

FAIL, OK, ANY = "fail", "ok", "any"  # ANY: accepted, or refused cleanly naming the file
SRC = "SRC"  # placeholder for the good src faceset in a case's arguments


class Cases:
    """Runs a verb's cases, checks each, and collects every problem for one assertion at the end."""

    def __init__(self, *inputs: Path):
        self.inputs = [p for p in inputs if p.exists()]
        self.before = tree_hash(*self.inputs)
        self.problems: list[str] = []
        self.tried: list[str] = []

    def run(self, expect: str, args: list[object], names: tuple[str, ...] = (), out: Path | None = None) -> None:
        label = " ".join(str(a) for a in args)
        self.tried.append(label)
        res = cli(*args)
        try:
            if expect == FAIL or expect == ANY and res.code != 0:
                assert_fails_cleanly(res, *names)
            else:
                assert res.code == 0, f"exit {res.code}: {res.err[-1500:]}"
                assert "Traceback" not in res.err + res.out
            if out is not None:
                left = leftovers(out)
                assert not left, f"half-written files left: {left[:3]}"
            after = tree_hash(*self.inputs)
            changed = [k for k in self.before if self.before[k] != after.get(k)]
            assert not changed, f"inputs modified: {changed[:3]}"
        except AssertionError as exc:
            self.problems.append(f"facecomp {label}\n    -> {exc}")

    def check(self) -> None:
        assert not self.problems, f"{len(self.problems)} of {len(self.tried)} cases failed:\n" + "\n".join(
            self.problems)


def _verb(name: str) -> None:
    if name not in VERBS:
        pytest.skip(f"verb {name!r} is not registered yet")


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    return tmp_path


def _frames(folder: Path, *files: Path) -> Path:
    """A frames folder 00001.<ext>, 00002.<ext> ... of the given files (extension kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files, 1):
        shutil.copy(f, folder / f"{i:05d}{f.suffix}")
    return folder


def _sub_actions(verb: str) -> list[str]:
    """The sub-actions of a verb (``faceset info``, ``xseg train`` ...) from its argument parser."""
    import argparse

    from engine.cli import build_parser

    parser = build_parser(verb)
    return [name for a in parser._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices]


def test_every_verb_and_action_prints_help(work):
    """--help must never crash (a help text is parsed with %-formatting by argparse)."""
    problems = []
    for verb in VERBS:
        res = cli(verb, "--help")
        if res.code != 0 or "Traceback" in res.err or "error" in res.err:
            problems.append(f"{verb} --help: exit {res.code}: {res.err.strip()[-300:]}")
        for action in _sub_actions(verb):
            sub = cli(verb, action, "--help")
            if sub.code != 0 or "Traceback" in sub.err or "error" in sub.err:
                problems.append(f"{verb} {action} --help: exit {sub.code}: {sub.err.strip()[-300:]}")
    assert not problems, "\n".join(problems)


def test_frames(corpus, work):
    _verb("frames")
    c = Cases(corpus["empty.mp4"])
    for name in ("empty.mp4", "truncated.mp4", "text.mp4", "text.jpg", "text.exr", "one_pixel.png"):
        expect = ANY if name == "one_pixel.png" else FAIL
        c.run(expect, ["frames", corpus[name], work / name], (name,), work / name)
    for name in ("png16.png", "gray.jpg", "cmyk.jpg", "nan.exr", "jpeg_named.png"):
        c.run(OK, ["frames", corpus[name], work / name], out=work / name)
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["frames", corpus["frame.png"], locked / "out"], ("locked",))
    c.check()


def test_extract(corpus, work):
    _verb("extract")
    c = Cases(*corpus.values())
    for name in ("empty.mp4", "truncated.mp4", "text.mp4", "text.jpg", "text.png", "text.exr", "one_pixel.png"):
        c.run(FAIL, ["extract", corpus[name], work / name], (name,), work / name)
    for name in ("png16.png", "gray.jpg", "cmyk.jpg", "nan.exr", "no_face.jpg", "jpeg_named.png"):
        c.run(OK, ["extract", corpus[name], work / name], out=work / name)
    res = cli("extract", corpus["no_face.jpg"], work / "nf2")
    if "no_face.jpg" not in res.err + res.out:
        c.problems.append("extract of a frame without a face does not say which frame had no face")
    mixed = _frames(work / "mixed", corpus["frame.png"], corpus["text.png"])
    c.run(FAIL, ["extract", mixed, work / "mixed_out"], ("00002.png",), work / "mixed_out")
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["extract", corpus["frame.png"], locked / "faces"], ("locked",))
    c.check()


def test_faceset(bad_faceset, work):
    _verb("faceset")
    singles, folders = bad_faceset
    c = Cases(*singles.values(), *folders.values())
    for path in singles.values():
        c.run(FAIL, ["faceset", "info", path], (path.name,))
    for problem, folder in folders.items():
        c.run(FAIL, ["faceset", "info", folder], ("zz_",))
        c.run(FAIL, ["faceset", "resize", folder, "--image-size", "128", "--out", work / problem], ("zz_",),
              work / problem)
    with Immutable(work / "locked") as locked:
        good = folders["no_meta"]
        clean = work / "clean"
        clean.mkdir()
        for f in sorted(good.iterdir())[:2]:
            shutil.copy(f, clean / f.name)
        c.run(FAIL, ["faceset", "resize", clean, "--image-size", "128", "--out", locked / "small"], ("locked",))
    c.check()


def test_sort(bad_faceset, work):
    """sort works in place (its job): a face file it cannot read goes to <dir>_trash untouched, named in a warning;
    the good faces are sorted."""
    _verb("sort")
    singles, folders = bad_faceset
    problems = []
    for problem, folder in folders.items():
        bad = next(folder.glob("zz_*"))
        before = tree_hash(bad)[str(bad)]
        for method in ("face-yaw", "hist"):
            mine = work / f"{problem}_{method}"
            shutil.copytree(folder, mine)
            res = cli("sort", mine, "--by", method)
            trashed = mine.parent / f"{mine.name}_trash" / bad.name
            if res.code != 0 or "Traceback" in res.err or bad.name not in res.err + res.out:
                problems.append(f"sort --by {method} with {problem}: exit {res.code}: {res.err[-300:]}")
            elif not trashed.is_file() or tree_hash(trashed)[str(trashed)] != before:
                problems.append(f"sort --by {method} with {problem}: the bad file is not in {trashed.parent} as it was")
            elif len(list(mine.glob("*.jpg"))) != 3:
                problems.append(f"sort --by {method} with {problem}: good faces lost: {sorted(mine.iterdir())}")
    assert not problems, "\n".join(problems)


def test_xseg(bad_faceset, corpus, wrong_signature_model, work):
    _verb("xseg")
    singles, folders = bad_faceset
    c = Cases(*folders.values(), corpus["text.onnx"], wrong_signature_model)
    for problem, folder in folders.items():
        c.run(FAIL, ["xseg", "apply", folder, "--generic"], ("zz_",))
        c.run(FAIL, ["xseg", "train", "--model", work / f"xs_{problem}", "--facesets", folder, "--target-iter", "1"],
              ("zz_",), work / f"xs_{problem}")
    good = folders["no_meta"].parent / "clean_for_xseg"
    if not good.exists():
        good.mkdir()
        for f in sorted(folders["no_meta"].iterdir())[:3]:
            shutil.copy(f, good / f.name)
    for model in (corpus["text.onnx"], corpus["empty.mp4"], wrong_signature_model):
        c.run(FAIL, ["xseg", "apply", good, "--model", model], (model.name,))
    c.check()


def test_train(bad_faceset, other_arch_model, tiny_model, src_faces, dst_faces, corpus, work):
    _verb("train")
    singles, folders = bad_faceset
    c = Cases(*folders.values(), other_arch_model, tiny_model[0])
    small = ["--resolution", "64", "--archi", "df-ud", "--ae-dims", "32", "--e-dims", "16", "--d-dims", "16",
             "--d-mask-dims", "16", "--iterations", "1", "--quiet"]
    for problem, folder in folders.items():
        c.run(FAIL, ["train", "--model", work / f"m_{problem}", "--kind", "saehd", "--src", folder, "--dst",
                     dst_faces, *small], ("zz_",), work / f"m_{problem}")
    c.run(FAIL, ["train", "--model", other_arch_model, "--resume", "--src", src_faces, "--dst", dst_faces,
                 "--iterations", "1"], ("model.safetensors",))
    damaged = work / "damaged_model"
    shutil.copytree(tiny_model[0], damaged)
    data = (damaged / "model.safetensors").read_bytes()
    (damaged / "model.safetensors").write_bytes(data[: len(data) // 2])
    c.inputs.append(damaged)
    c.before.update(tree_hash(damaged))
    c.run(FAIL, ["train", "--model", damaged, "--resume", "--src", src_faces, "--dst", dst_faces, "--iterations",
                 "1"], ("model.safetensors",))
    c.run(FAIL, ["train", "--model", corpus["text.json"], "--resume"], ("text.json",))
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["train", "--model", locked / "m", "--kind", "saehd", "--src", src_faces, "--dst", dst_faces,
                     *small], ("locked",))
    c.check()


def test_export(other_arch_model, tiny_model, corpus, work):
    _verb("export")
    c = Cases(other_arch_model, tiny_model[0])
    c.run(FAIL, ["export", "--model", other_arch_model, "--out", work / "a.onnx"], ("model.safetensors",), work)
    broken = work / "broken_json"
    shutil.copytree(tiny_model[0], broken)
    (broken / "model.json").write_text('{"format": "facecomp-model", "kind": ')
    c.run(FAIL, ["export", "--model", broken, "--out", work / "b.onnx"], ("model.json",), work)
    foreign = work / "foreign_json"
    shutil.copytree(tiny_model[0], foreign)
    (foreign / "model.json").write_text('{"format": "something-else", "layers": [1, 2]}')
    c.run(FAIL, ["export", "--model", foreign, "--out", work / "c.onnx"], ("model.json",), work)
    c.run(FAIL, ["export", "--model", corpus["text.json"].parent / "nothing_here", "--out", work / "d.onnx"],
          ("nothing_here",))
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["export", "--model", tiny_model[0], "--out", locked / "e.onnx", "--no-verify"], ("locked",))
    assert not list(work.glob("*.onnx"))
    c.check()


def _plate(corpus: dict[str, Path], work: Path) -> Path:
    return _frames(work / "plate", corpus["frame.png"], corpus["frame.png"])


def test_track(corpus, bad_faceset, work):
    _verb("track")
    singles, folders = bad_faceset
    c = Cases(*corpus.values(), *folders.values())
    for name in ("empty.mp4", "truncated.mp4", "text.mp4"):
        c.run(FAIL, ["track", corpus[name], "--out", work / f"{name}.json"], (name,), work)
    mixed = _frames(work / "mixed", corpus["frame.png"], corpus["text.png"])
    c.run(FAIL, ["track", mixed, "--out", work / "mixed.json"], ("00002.png",), work)
    plate = _plate(corpus, work)
    for problem, folder in folders.items():
        c.run(FAIL, ["track", plate, "--aligned", folder, "--out", work / f"{problem}.json"], ("zz_",), work)
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["track", plate, "--out", locked / "t.json"], ("locked",))
    c.check()


def _model_cases(c: Cases, verb_args, corpus: dict[str, Path], wrong_signature_model: Path) -> None:
    for model in (corpus["text.onnx"], corpus["empty.mp4"], corpus["jpeg_named.png"], wrong_signature_model):
        c.run(FAIL, verb_args(model), (model.name,))


def test_merge(corpus, bad_faceset, tiny_model, wrong_signature_model, work):
    _verb("merge")
    singles, folders = bad_faceset
    onnx_path = tiny_model[1]
    c = Cases(*corpus.values(), *folders.values(), onnx_path)
    plate = _plate(corpus, work)
    _model_cases(c, lambda m: ["merge", "--model", m, "--frames", plate, "--out", work / "m1"], corpus,
                 wrong_signature_model)
    mixed = _frames(work / "mixed", corpus["frame.png"], corpus["text.png"])
    c.run(FAIL, ["merge", "--model", onnx_path, "--frames", mixed, "--out", work / "m2"], ("00002.png",), work / "m2")
    c.run(FAIL, ["merge", "--model", onnx_path, "--frames", plate, "--aligned", folders["damaged_json"], "--out",
                 work / "m3"], ("zz_",), work / "m3")
    c.run(FAIL, ["merge", "--model", onnx_path, "--frames", plate, "--settings", corpus["text.json"], "--out",
                 work / "m4"], ("text.json",), work / "m4")
    odd = _frames(work / "odd", corpus["no_face.jpg"], corpus["gray.jpg"], corpus["cmyk.jpg"])
    c.run(OK, ["merge", "--model", onnx_path, "--frames", odd, "--out", work / "m5"], out=work / "m5")
    if len(list((work / "m5").glob("*"))) < 3:
        c.problems.append("merge of a frame without a face must still write that frame (gap-free output)")
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["merge", "--model", onnx_path, "--frames", plate, "--out", locked / "merged"], ("locked",))
    c.check()


def test_render(corpus, tiny_model, wrong_signature_model, work):
    _verb("render")
    onnx_path = tiny_model[1]
    c = Cases(*corpus.values(), onnx_path)
    plate = _plate(corpus, work)
    pattern = str(plate / "%05d.png")
    _model_cases(c, lambda m: ["render", "--model", m, "--plate", pattern, "--out", work / "r1.%04d.exr"], corpus,
                 wrong_signature_model)
    mixed = _frames(work / "mixed", corpus["frame.png"], corpus["text.png"])
    c.run(FAIL, ["render", "--model", onnx_path, "--plate", mixed, "--out", work / "r2" / "f.%04d.exr"],
          ("00002.png",), work / "r2")
    for flag in ("--settings", "--track"):
        c.run(FAIL, ["render", "--model", onnx_path, "--plate", pattern, "--out", work / "r3.%04d.exr", flag,
                     corpus["text.json"]], ("text.json",))
    c.run(OK, ["render", "--model", onnx_path, "--plate", corpus["nan.exr"], "--out", work / "r4" / "f.%04d.exr"],
          out=work / "r4")
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["render", "--model", onnx_path, "--plate", pattern, "--out", locked / "f.%04d.exr"], ("locked",))
    c.check()


def test_video(corpus, work):
    _verb("video")
    c = Cases(*corpus.values())
    mixed = _frames(work / "mixed", corpus["frame.png"], corpus["text.png"])
    c.run(FAIL, ["video", mixed, work / "a.mp4"], ("00002.png",), work)
    c.run(FAIL, ["video", work / "no_such_frames", work / "b.mp4"], ("no_such_frames",), work)
    tiny = _frames(work / "tiny", corpus["one_pixel.png"], corpus["one_pixel.png"])
    c.run(FAIL, ["video", tiny, work / "c.mp4"], ("00001.png", "tiny"), work)
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["video", _plate(corpus, work), locked / "d.mp4"], ("locked",))
    c.check()


def test_import_dfl(bad_faceset, corpus, tiny_model, work):
    _verb("import-dfl")
    singles, folders = bad_faceset
    c = Cases(*folders.values(), tiny_model[0])
    res = cli("import-dfl", "faceset", folders["no_meta"], work / "imp")
    if "Traceback" in res.err or res.code == 0 and not list((work / "imp").glob("*")):
        c.problems.append(f"import-dfl faceset of non-DFL faces: exit {res.code}, {res.err[-300:]}")
    if "zz_00001_0.jpg" not in res.err + res.out:
        c.problems.append("import-dfl faceset does not name the file it skipped")
    c.run(FAIL, ["import-dfl", "model", tiny_model[0], work / "imp_model"], (tiny_model[0].name,), work / "imp_model")
    fake = work / "fake_dfl"
    fake.mkdir()
    (fake / "x_SAEHD_data.dat").write_text("not a pickle")
    (fake / "x_SAEHD_encoder.npy").write_bytes(b"\x93NUMPY garbage")
    c.run(FAIL, ["import-dfl", "model", fake, work / "imp_fake"], ("x_SAEHD",), work / "imp_fake")
    c.check()


def test_report(corpus, bad_faceset, src_faces, tiny_model, wrong_signature_model, work):
    _verb("report")
    singles, folders = bad_faceset
    onnx_path = tiny_model[1]
    c = Cases(*corpus.values(), *folders.values(), onnx_path)
    plate = _plate(corpus, work)
    _model_cases(c, lambda m: ["report", "--model", m, "--src", src_faces, "--dst", plate, "--out", work / "r1"],
                 corpus, wrong_signature_model)
    c.run(FAIL, ["report", "--model", onnx_path, "--src", folders["foreign_json"], "--dst", plate, "--out",
                 work / "r2"], ("zz_",), work / "r2")
    mixed = _frames(work / "mixed", corpus["frame.png"], corpus["text.png"])
    c.run(FAIL, ["report", "--model", onnx_path, "--src", src_faces, "--dst", mixed, "--out", work / "r3",
                 "--src-faces", "2"], ("00002.png",), work / "r3")
    noface = _frames(work / "noface", corpus["no_face.jpg"])
    c.run(FAIL, ["report", "--model", onnx_path, "--src", src_faces, "--dst", noface, "--out", work / "r4",
                 "--src-faces", "2"], ("noface",), work / "r4")
    with Immutable(work / "locked") as locked:
        c.run(FAIL, ["report", "--model", onnx_path, "--src", src_faces, "--dst", plate, "--out", locked / "r"],
              ("locked",))
    for r in ("r1", "r2", "r3", "r4"):
        assert not (work / r).exists()  # a failed report leaves no folder behind
    c.check()


def test_subprocess_cases(corpus, work):
    """A few cases as a user runs them: one line on stderr, no traceback, from a fresh process."""
    for args, name in ((["frames", corpus["truncated.mp4"], work / "f"], "truncated.mp4"),
                       (["render", "--model", corpus["text.onnx"], "--plate", corpus["frame.png"], "--out",
                         work / "r.%04d.exr"], "text.onnx")):
        res = run_facecomp(*args, check=False)
        assert res.code != 0 and "Traceback" not in res.err
        lines = [line for line in res.err.splitlines() if line.strip()]
        assert len(lines) == 1 and name in lines[0], res.err
