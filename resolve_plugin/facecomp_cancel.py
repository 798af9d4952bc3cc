"""facecomp: stop the running FaceSwap render of the current comp (Scripts/Comp, beside facecomp_fusion.py).

Fusion runs comp scripts outside its UI thread, so this script can run while FaceSwap waits on the worker; it
sets the comp's data ``facecomp.cancel``, which the FaceSwap script checks between frames.
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
