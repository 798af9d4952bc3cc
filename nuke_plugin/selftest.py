"""In-host self-test of the FaceSwap node: ``nuke -t nuke_plugin/selftest.py --plate P --model M [--frames A-B]``.

Prints PASS/FAIL per step and exits 1 when a step fails. Steps: the plugin and facecomp are found (worker hello with
its option tables); a FaceSwap node on a Read of the plate renders 3 frames; the face and facemask channels are
non-empty, premultiplied, composited over the plate, and in the same place as in facecomp's own render of that
frame; a farm-style ``nuke -x -F`` render of a Write below the node gives the same pixels. Needs NUKE_PATH to hold
nuke_plugin/ (and FACECOMP_EXE unless facecomp is on PATH). FACECOMP_SELFTEST_NUKE overrides the Nuke command
used for the farm step (default: this Nuke executable).
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

import nuke

GRID = 24  # samples per side when looking at a channel (Nuke's Python reads pixels one sample() at a time)
RESULTS = []


def step(name, ok, detail=""):
    RESULTS.append(bool(ok))
    print("{} {}{}".format("PASS" if ok else "FAIL", name, ": " + detail if detail else ""))
    sys.stdout.flush()
    return ok


def samples(node, channel, frame, size):
    """{(x, y): value} of ``channel`` on a GRID x GRID lattice (pixel centres) of a ``size`` = (w, h) image."""
    w, h = size
    xs = range(w // (2 * GRID), w, max(w // GRID, 1))
    ys = range(h // (2 * GRID), h, max(h // GRID, 1))
    # Node.sample(channel, x, y, dx, dy, frame) per Foundry's nuke.Node reference. The stub is wrong here:
    # types-nuke 13.2 declares garbled overloads (sample(self, Xcoordinate)); ``node`` is left untyped for that.
    return {(x, y): node.sample(channel, x + 0.5, y + 0.5, frame=frame) for x in xs for y in ys}


def check_frame(node, read, frame, size, direct=None):
    """The node's passes at one frame: non-empty, premultiplied, over the plate, where facecomp puts them."""
    mask = samples(node, "facemask.alpha", frame, size)
    inside = [p for p, v in mask.items() if v > 0.5]
    step("frame {} facemask.alpha non-empty".format(frame), 0 < len(inside) < 0.5 * len(mask),
         "{} of {} samples inside".format(len(inside), len(mask)))
    face = samples(node, "face.red", frame, size)
    outside = [p for p, v in mask.items() if v == 0.0]
    step("frame {} face.red premultiplied".format(frame),
         any(abs(face[p]) > 1e-4 for p in inside) and all(abs(face[p]) < 1e-4 for p in outside))
    rgba, plate = samples(node, "rgba.red", frame, size), samples(read, "rgba.red", frame, size)
    worst = max(abs(rgba[p] - (face[p] + plate[p] * (1 - mask[p]))) for p in mask)
    step("frame {} rgba = face over plate".format(frame), worst < 2e-3, "max error {:.2g}".format(worst))
    if direct is not None:
        ref = samples(direct, "facemask.alpha", frame, size)
        worst = max(abs(ref[p] - mask[p]) for p in mask)
        step("frame {} facemask where facecomp's own render puts it".format(frame), worst < 2e-3,
             "max error {:.2g}".format(worst))
    return rgba


def direct_render(command, model, pattern, frame, out, working_space):
    """facecomp's own render of one frame (a separate worker, no Nuke in between) to compare the node with."""
    from host_kit import client

    worker = client.WorkerClient(command)
    try:
        worker.render(plate=pattern, frames=[frame], out=out, model=model, passes=["face", "facemask"],
                      working_space=working_space or None)
    finally:
        worker.close()


def main(argv):
    p = argparse.ArgumentParser(prog="nuke -t selftest.py")
    p.add_argument("--plate", required=True, help="plate frames (EXR pattern with %%04d or ####)")
    p.add_argument("--model", required=True, help="exported model (.onnx/.dfm)")
    p.add_argument("--frames", default=None, help="three frames to render, A-B (default: the plate's first three)")
    p.add_argument("--working-space", default="", help="OCIO working space of the plate (default: the script's)")
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="facecomp_selftest_")
    os.environ.setdefault("FACECOMP_CACHE_DIR", os.path.join(work, "cache"))
    try:
        import facecomp_nuke
        from host_kit import client
        from host_kit.options import OptionTables

        command = client.facecomp_command()
        worker = client.WorkerClient(command)
        tables = OptionTables.from_hello(worker.start())
        worker.close()
        step("plugin, facecomp and worker found", nuke.pluginPath() and tables.default("faces") == "all",
             " ".join(command))
    except Exception as exc:  # noqa: BLE001 - a self-test reports, it does not crash
        step("plugin, facecomp and worker found", False, str(exc))
        return 1
    pattern = args.plate.replace("####", "%04d")
    first = int(args.frames.split("-")[0]) if args.frames else min(
        int(f.rsplit(".", 2)[-2]) for f in os.listdir(os.path.dirname(pattern) or ".") if f.endswith(".exr"))
    frames = [first, first + 1, first + 2]
    read = nuke.nodes.Read(file=pattern, first=frames[0], last=frames[-1])
    fmt = read.format()
    size = (fmt.width(), fmt.height())
    nuke.root()["first_frame"].setValue(frames[0])
    nuke.root()["last_frame"].setValue(frames[-1])
    node = nuke.createNode("FaceSwap")
    node.setInput(0, read)
    node["model_file"].setValue(args.model)
    if args.working_space:
        node["working_space"].setValue(args.working_space)
    step("FaceSwap node created", node.Class() == "FaceSwap", "{}x{}".format(fmt.width(), fmt.height()))
    try:
        summary = facecomp_nuke.render_now(node, frames)
        step("render {} frames".format(len(frames)), summary["frames"] == 3, node["status"].value())
    except client.FacecompHostError as exc:
        step("render {} frames".format(len(frames)), False, str(exc))
        return 1
    direct_out = os.path.join(work, "direct", "fs.%04d.exr")
    direct_render(command, args.model, pattern, frames[0], direct_out, args.working_space)
    direct = nuke.nodes.Read(file=direct_out, first=frames[0], last=frames[0])
    interactive = check_frame(node, read, frames[0], size, direct)
    for f in frames[1:]:
        check_frame(node, read, f, size)
    write = nuke.nodes.Write(file=os.path.join(work, "farm", "comp.####.exr"), file_type="exr", channels="all",
                             create_directories=True)
    write.setInput(0, node)
    node["cache_dir"].setValue(os.path.join(work, "farm_cache"))  # the farm renders its own passes
    script = os.path.join(work, "selftest.nk")
    nuke.scriptSaveAs(script)
    farm_cmd = shlex.split(os.environ.get("FACECOMP_SELFTEST_NUKE", "")) or [nuke.EXE_PATH]
    r = subprocess.run(farm_cmd + ["-x", "-F", "{}-{}".format(frames[0], frames[0]), script],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=1200)
    step("farm render nuke -x -F {0}-{0}".format(frames[0]), r.returncode == 0, r.stdout.strip()[-300:])
    farm = nuke.nodes.Read(file=os.path.join(work, "farm", "comp.%04d.exr"), first=frames[0], last=frames[0])
    if r.returncode == 0:
        got = samples(farm, "rgba.red", frames[0], size)
        worst = max(abs(got[p] - interactive[p]) for p in got)
        step("farm frame equals the interactive frame", worst < 2e-3, "max error {:.2g}".format(worst))
    facecomp_nuke.stop_all_workers()
    print("{} of {} steps passed (files in {})".format(sum(RESULTS), len(RESULTS), work))
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
