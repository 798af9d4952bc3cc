"""The engine's options layer (engine/options.py): conversion, DFL aliases and codes, errors that name the source
(the flag, --set or the file), "did you mean", DFL options facecomp does not have; and the CLI wiring on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import FacecompError
from engine.options import Option, fixed_at_creation, load_config, parse_set, resolve
from tests.conftest import assert_clean_error, run_facecomp

TABLE = [
    Option("erode", 0, "erode", low=-400, high=400),
    Option("mode", "overlay", "mode", choices=("original", "overlay"), aliases={"0": "original", "1": "overlay"}),
    Option("ae_dims", 256, "dims", low=32, high=1024),
    Option("masked", True, "masked"),
]


def test_precedence_and_conversion() -> None:
    out = resolve(TABLE, flags={"erode": "7", "mode": None}, stored={"erode": 1, "gone": 3},
                  config={"erode": 2, "mode": 0}, overrides={"masked": "off"})
    assert out == {"erode": 7, "mode": "original", "ae_dims": 256, "masked": False}


def test_errors_name_their_source_and_the_fix() -> None:
    with pytest.raises(FacecompError, match=r"^--erode: option erode: 1000 outside -400..400$"):
        resolve(TABLE, flags={"erode": 1000})
    with pytest.raises(FacecompError, match=r"^--set: option erode: 1000 outside"):
        resolve(TABLE, overrides={"erode": 1000})
    with pytest.raises(FacecompError, match=r"^my.toml: unknown option 'ae_dim'; did you mean ae_dims\?"):
        resolve(TABLE, config={"ae_dim": 128}, config_name="my.toml")
    with pytest.raises(FacecompError, match=r"'zzz' \(known: ae_dims, erode, masked, mode\)"):
        resolve(TABLE, overrides={"zzz": 1})
    with pytest.raises(FacecompError, match="not available in facecomp: use sharpen"):
        resolve(TABLE, config={"super_resolution_power": 10}, retired={"super_resolution_power": "use sharpen"})
    with pytest.raises(FacecompError, match=r"'sepia' not one of original, overlay \(or DFL's code 0..1\)"):
        TABLE[1].convert("sepia")
    with pytest.raises(FacecompError, match="is not a int"):
        TABLE[0].convert(2.5, "x")
    err = fixed_at_creation("resolution", 128, 96, "model")
    assert "fixed when a model is created" in str(err) and "new model folder" in str(err)


def test_config_files_and_set_items(tmp_path: Path) -> None:
    toml = tmp_path / "o.toml"
    toml.write_text("erode = 5\n[section]\nmode = 1\n")
    assert load_config(toml) == {"erode": 5, "mode": 1}
    assert parse_set(["ae-dims=128", "mode = overlay"]) == {"ae_dims": "128", "mode": "overlay"}
    with pytest.raises(FacecompError, match="NAME=VALUE"):
        parse_set(["ae_dims"])
    bad = tmp_path / "bad.toml"
    bad.write_text("erode = [")
    with pytest.raises(FacecompError, match="not a valid TOML"):
        load_config(bad)


def test_tables_as_plain_data_for_the_hosts() -> None:
    from engine.options import describe
    from engine.swap.settings import MERGE_OPTIONS

    erode = next(d for d in describe(MERGE_OPTIONS) if d["name"] == "erode")
    assert (erode["flag"], erode["type"], erode["default"], erode["low"], erode["high"]) == ("--erode", "int", 0,
                                                                                             -400, 400)
    mode = next(d for d in describe(MERGE_OPTIONS) if d["name"] == "mode")
    assert mode["aliases"]["1"] == "overlay" and "seamless" in mode["choices"]


def test_face_types_one_set_of_names() -> None:
    from engine.faces.facetype import face_type_option
    from engine.models import model_options

    verb = face_type_option()
    assert [verb.convert(n) for n in ("wf", "f", "mf", "h", "head", "whole_face", "full", "FULL_FACE")] == [
        "whole_face", "full_face", "midfull_face", "half_face", "head", "whole_face", "full_face", "full_face"]
    saehd = next(o for o in model_options("saehd") if o.name == "face_type")
    assert [saehd.convert(n) for n in ("whole_face", "wf", "full", "head")] == ["wf", "wf", "f", "head"]
    amp = next(o for o in model_options("amp") if o.name == "face_type")
    with pytest.raises(FacecompError, match="not one of f, wf, head"):
        amp.convert("half_face")


def test_cli_blames_the_flag_and_checks_ranges(tmp_path: Path) -> None:
    res = run_facecomp("merge", "--model", tmp_path / "m.onnx", "--frames", tmp_path, "--erode", "1000",
                       check=False)
    assert_clean_error(res, "--erode: option erode: 1000 outside -400..400")
    assert "--set" not in res.err
    res = run_facecomp("frames", tmp_path / "clip.mp4", tmp_path / "out", "--fps", "-5", check=False)
    assert_clean_error(res, "fps -5 outside the valid range")
    res = run_facecomp("train", "--model", tmp_path / "m", "--kind", "saehd", "--set", "ae_dim=128", "--summary",
                       check=False)
    assert_clean_error(res, "did you mean ae_dims?")


def test_debug_is_accepted_after_the_sub_action(tmp_path: Path) -> None:
    res = run_facecomp("xseg", "remove", tmp_path, "--debug", check=False)
    assert res.code != 0 and "unrecognized arguments" not in res.err
    assert "no face files in" in res.err  # the real error, raised with a traceback under --debug
