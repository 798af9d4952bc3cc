"""facecomp for Nuke, GUI sessions only: the FaceSwap entry in the Nodes toolbar and live rendering."""

import facecomp_nuke
import facecomp_ui
import nuke

_menu = nuke.menu("Nodes").addMenu("facecomp")
_menu.addCommand("FaceSwap", "nuke.createNode('FaceSwap')", "")
nuke.menu("Nuke").addMenu("facecomp").addCommand("Stop FaceSwap workers", facecomp_nuke.stop_all_workers)
nuke.addUpdateUI(facecomp_ui.update_ui, nodeClass=facecomp_nuke.NODE_CLASS)
