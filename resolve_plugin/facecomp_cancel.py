"""facecomp: stop the running FaceSwap render of the current comp (Scripts/Comp, beside facecomp_fusion.py).

The FaceSwap window's Cancel button is the way to stop a render started from Fusion's menu. This script is the
fallback for a render whose progress goes to the console (no UIManager, e.g. FaceSwap started with fuscript from a
shell): it sets the comp's data ``facecomp.cancel``, which FaceSwap checks between frames (the window checks it
too). Whether Fusion runs this script while another comp script waits is not confirmed from a primary source.
"""

import sys


def main(comp=None):
    if comp is None:
        comp = sys.modules["__main__"].__dict__.get("comp")
    if comp is None:
        import BlackmagicFusion as bmd  # type: ignore[import-not-found]  # no stub (see facecomp_fusion.py)

        comp = bmd.scriptapp("Fusion").GetCurrentComp()
    comp.SetData("facecomp.cancel", True)
    print("facecomp: cancel requested")
    return True


if __name__ == "__main__":
    main()
