"""facecomp for Nuke: runs in every session (GUI, `nuke -x` farm renders, `nuke -t`). No UI here.

Put this folder on NUKE_PATH (or call nuke.pluginAddPath('<facecomp>/nuke_plugin') from your own
init.py). It adds the FaceSwap gizmo's folder to the plugin path and registers the render callbacks
that give every FaceSwap node upstream of a Write its passes, frame by frame.
"""

import contextlib
import os
import sys

import nuke


def _plugin_dir():
    """This folder: from __file__ where Nuke sets it, else the plugin path entry holding facecomp_nuke.py."""
    here = globals().get("__file__")
    candidates = [os.path.dirname(os.path.abspath(here))] if here else []
    candidates += list(nuke.pluginPath())
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "facecomp_nuke.py")):
            return folder
    return None


def _add_host_kit(folder):
    """Put the folder holding facecomp's host_kit on sys.path: beside this folder, else $FACECOMP_HOME."""
    for base in (os.path.dirname(folder), os.environ.get("FACECOMP_HOME", "")):
        if base and os.path.isfile(os.path.join(base, "host_kit", "client.py")):
            if base not in sys.path:
                sys.path.insert(0, base)
            return True
    return False


def _setup():
    folder = _plugin_dir()
    if folder is None:
        nuke.warning("facecomp: cannot find facecomp_nuke.py on the plugin path; FaceSwap is not available")
        return
    if not _add_host_kit(folder):
        nuke.warning("facecomp: host_kit not found beside {} nor in $FACECOMP_HOME; FaceSwap is not available"
                     .format(folder))
        return
    for gizmos in (os.path.join(folder, "gizmos"), os.path.join(os.path.dirname(folder), "gizmos")):
        if os.path.isfile(os.path.join(gizmos, "FaceSwap.gizmo")):
            nuke.pluginAddPath(gizmos.replace("\\", "/"))
            break
    else:
        nuke.warning("facecomp: FaceSwap.gizmo not found beside {}".format(folder))
    import facecomp_nuke

    for add, remove, call in ((nuke.addBeforeFrameRender, nuke.removeBeforeFrameRender,
                               facecomp_nuke.before_frame_render),
                              (nuke.addAfterRender, nuke.removeAfterRender, facecomp_nuke.after_render)):
        # nodeClass='Write' is Nuke's own default for render callbacks (Nuke's callbacks.py); said here so the
        # intent does not depend on it. The gizmo's inner PlateWrite is a Write too: after_render ignores it.
        with contextlib.suppress(ValueError, KeyError):
            remove(call, nodeClass="Write")  # init.py may run twice (a folder on the path twice): register once
        add(call, nodeClass="Write")


_setup()
