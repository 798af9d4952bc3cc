"""In-host self-test of the FaceSwap comp script for Resolve's Fusion page and Fusion Studio.

Run it in Fusion's console (Workspace > Console, Python 3) on an empty or scratch comp:
``exec(open("/path/to/facecomp/resolve_plugin/facecomp_selftest.py").read())`` with FACECOMP_SELFTEST_PLATE (first
frame of an EXR plate sequence) and FACECOMP_SELFTEST_MODEL set, or from a shell with Fusion running:
``fuscript -l python facecomp_selftest.py --plate P --model M``. Prints PASS/FAIL per step: host_kit and the worker
are found; a Loader of the plate and the FaceSwap build render 3 frames; every pass file holds the face and facemask
channels with a non-empty data window, and the Cryptomatte and STMap channels; the FaceSwap tools are wired (face
Loader channels, Merge over the plate, the Cryptomatte Loader, the STMap Loader's U/V channels feeding a Texture
tool); progress ran in the FaceSwap window (the console without a UIManager: fuscript); a second run on a later
sub-range places the Loader there.
"""

import os
import sys


def _here():
    return os.path.dirname(os.path.realpath(globals().get("__file__") or os.environ.get("FACECOMP_HOME", ".") +
                                            "/resolve_plugin/facecomp_selftest.py"))


def run(comp, plate, model, log=print):
    """The self-test on ``comp``; returns the list of step results (True = PASS)."""
    results = []

    def step(name, ok, detail=""):
        results.append(bool(ok))
        log("{} {}{}".format("PASS" if ok else "FAIL", name, ": " + detail if detail else ""))
        return ok

    sys.path.insert(0, _here())
    try:
        import facecomp_fusion as ff
        from host_kit.exr import data_window_empty, read_header

        worker = ff.fc.WorkerClient(ff.fc.facecomp_command(), start_timeout=ff.START_TIMEOUT)
        worker.start()
        step("host_kit, facecomp and worker found", "options" in worker.info,
             " ".join(str(word) for word in worker.command))
    except Exception as exc:  # noqa: BLE001 - a self-test reports, it does not crash
        step("host_kit, facecomp and worker found", False, str(exc))
        return results
    try:
        pattern, first = ff.sequences.sequence_pattern(plate)
        if not step("plate is an image sequence", pattern is not None, plate):
            return results
        loader = comp.AddTool("Loader", ff.AUTO_PLACE, ff.AUTO_PLACE)
        ff.place_loader(loader, plate, first, 3)
        comp.SetAttrs({"COMPN_RenderStart": float(first), "COMPN_RenderEnd": float(first + 2)})
        out_dir = os.path.join(os.path.dirname(pattern), "facecomp_selftest")
        preset = {"model": model, "out_dir": out_dir}
        window = ff.window_kit.ui_manager()
        logged = []

        def keep(line):
            logged.append(line)
            log(line)

        tools = ff.faceswap(comp, worker, keep, preset=preset, window=window)
        step("FaceSwap build rendered 3 frames", tools is not None)
        step("progress shown per frame", len([line for line in logged if line.startswith("facecomp: frame")]) == 3,
             "in the FaceSwap window (UIManager)" if window else "in the console (no UIManager)")
        out = os.path.join(out_dir, "passes", "faceswap.%04d.exr")
        for f in range(first, first + 3):
            path = ff.sequences.frame_path(out, f)
            header = read_header(path) if os.path.isfile(path) else {"channels": [], "dataWindow": (0, 0, 0, 0)}
            step("frame {} has face and facemask".format(f),
                 {"face.R", "face.G", "face.B", "facemask.A"} <= set(header["channels"])
                 and not data_window_empty(header), ", ".join(str(c) for c in header["channels"]))
        step("frame {} has CryptoFace00 and stmap".format(first), {"CryptoFace00.R", "stmap.R", "stmap.G"} <=
             set(read_header(ff.sequences.frame_path(out, first))["channels"]))
        face, over = comp.FindTool("FaceSwap_face"), comp.FindTool("FaceSwap_over")
        step("face Loader reads face.RGB + facemask.A", face is not None and
             face.GetInput("Clip1.OpenEXRFormat.AlphaName") == "facemask.A" and
             face.GetInput("Clip1.OpenEXRFormat.RedName") == "face.R")
        step("Merge over the plate", over is not None and
             over.Background.GetConnectedOutput().GetTool().GetAttrs()["TOOLS_Name"] ==
             loader.GetAttrs()["TOOLS_Name"])
        crypto, stmap = comp.FindTool("FaceSwap_crypto"), comp.FindTool("FaceSwap_stmap")
        fuse = comp.FindTool("FaceSwap_cryptomatte")
        step("Cryptomatte Loader built", crypto is not None, "Psyop's fuse connected" if fuse is not None else
             "fuse not connected: see the log above")
        apply = comp.FindTool("FaceSwap_stmap_apply")
        step("STMap Loader: stmap.R/G as U/V, read by a Texture tool", stmap is not None and
             (stmap.GetInput("Clip1.OpenEXRFormat.UName"), stmap.GetInput("Clip1.OpenEXRFormat.VName")) ==
             ("stmap.R", "stmap.G") and apply is not None and
             apply.Input.GetConnectedOutput().GetTool().GetAttrs()["TOOLS_Name"] == "FaceSwap_stmap")
        comp.SetAttrs({"COMPN_RenderStart": float(first + 1), "COMPN_RenderEnd": float(first + 2)})
        ff.faceswap(comp, worker, log, preset=preset, window=window)
        step("re-run on a later sub-range places the Loader there",
             (face.GetInput("GlobalIn"), face.GetInput("GlobalOut")) == (first + 1, first + 2))
    except Exception as exc:  # noqa: BLE001
        step("FaceSwap build", False, str(exc))
    finally:
        worker.close()
    log("{} of {} steps passed".format(sum(results), len(results)))
    return results


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(prog="facecomp_selftest.py")
    p.add_argument("--plate", default=os.environ.get("FACECOMP_SELFTEST_PLATE", ""))
    p.add_argument("--model", default=os.environ.get("FACECOMP_SELFTEST_MODEL", ""))
    args = p.parse_args(argv)
    sys.path.insert(0, _here())
    import facecomp_fusion

    results = run(facecomp_fusion._current_comp(), args.plate, args.model)
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    code = main([] if "comp" in sys.modules["__main__"].__dict__ else None)
    if "comp" not in sys.modules["__main__"].__dict__:
        sys.exit(code)
