"""The farm's pre-render step: ``nuke -t nuke_plugin/prerender.py script.nk 1001-1010 [Write1,Write2]``.

Renders the passes of every FaceSwap upstream of the Writes (all Writes, or those named) for the frame range,
the most upstream first, writing a node's input to its cache first where the worker cannot read the plate files
itself (a processed input, a chained FaceSwap). It runs at the top level of a `nuke -t` session, so these
renders never start inside another render. Then ``nuke -x -F 1001-1010 script.nk`` finds every pass ready.
A chunked farm runs the pair per chunk. Exit code 1 with one line on error.
"""

import sys

import nuke


def prerender(first, last, writes=None):
    """Render the passes of the FaceSwaps feeding ``writes`` (default: every Write) for frames first..last."""
    import facecomp_graph
    import facecomp_nuke

    writes = writes if writes is not None else nuke.allNodes("Write")
    done = set()
    for write in writes:
        for node in facecomp_graph.upstream_faceswaps(write):
            if node.fullName() in done or node["disable"].value():
                continue
            done.add(node.fullName())
            facecomp_nuke.render_now(node, list(range(first, last + 1)), force=False)
    return sorted(done)


def main(argv):
    if len(argv) < 2:
        print("usage: nuke -t prerender.py script.nk FIRST-LAST [Write1,Write2]", file=sys.stderr)
        return 2
    nuke.scriptOpen(argv[0])
    first, _, last = argv[1].partition("-")
    writes = [nuke.toNode(n) for n in argv[2].split(",")] if len(argv) > 2 else None
    try:
        names = prerender(int(first), int(last or first), writes)
    except Exception as exc:  # noqa: BLE001 - one line for the farm log
        print("Error: {}".format(exc), file=sys.stderr)
        return 1
    print("facecomp prerender: {} ready for {}".format(", ".join(names) or "no FaceSwap", argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
