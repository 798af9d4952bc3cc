"""`facecomp xseg edit`: DFL's XSeg labelling editor (PySide6), with manual re-extraction.

Modules: state (Qt-free editing model), canvas (face view + mouse), window (keys, help, navigation),
reextract (re-alignment logic) and reextract_view (the frame view for it).
"""

from __future__ import annotations

import os

from engine.errors import FacecompError


def run_editor(faceset: str | os.PathLike[str], frames: str | os.PathLike[str] | None = None) -> int:
    """Open the editor window on ``faceset`` and run the Qt event loop until it closes."""
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        raise FacecompError("the editor needs PySide6 (pip install PySide6-Essentials)") from None
    from engine.xseg.editor.window import EditorWindow

    app = QApplication.instance() or QApplication([])
    window = EditorWindow(faceset, frames)
    window.show()
    return int(app.exec())
