"""The XSeg editor window: DFL's labelling keys, help overlay, and manual re-extraction (E)."""

from __future__ import annotations

import logging
import os

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QStackedWidget, QWidget

from engine.errors import FacecompError
from engine.xseg.editor.canvas import FaceCanvas
from engine.xseg.editor.reextract import find_frame, realign
from engine.xseg.editor.reextract_view import ReextractView
from engine.xseg.editor.state import EditorState

log = logging.getLogger("facecomp")

KEYS = [
    ("Q / W", "include / exclude mode (type of the next polygon)"),
    ("left click", "start a polygon, add points; click the first point to close it"),
    ("left drag", "move a point"),
    ("Ctrl + click", "delete the point under the cursor / insert a point on an edge"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
    ("Delete", "delete the polygon under the cursor (or the one being drawn)"),
    ("A / D", "previous / next face (saves); Shift: 5 faces; Ctrl: previous / next labelled face"),
    ("Ctrl+S", "save now"),
    ("X", "move the face to <faceset>_trash"),
    ("1 / 2 / 3", "polygon colour scheme"),
    ("4 / 5", "view the baked label mask / the applied XSeg mask (press again: the face)"),
    ("`", "overlay the applied XSeg mask on the face"),
    ("wheel / middle drag / F", "zoom 1-20x / pan / fit"),
    ("E", "manual re-extraction on the source frame (Enter re-aligns and saves, Esc cancels)"),
    ("H / F1", "this help"),
]


class HelpOverlay(QWidget):
    """A translucent panel listing the keys."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0, 0, 0, 190))
        p.setPen(QColor(255, 255, 255))
        y = 30
        for key, what in KEYS:
            p.drawText(20, y, key)
            p.drawText(220, y, what)
            y += 22
        p.end()


class EditorWindow(QMainWindow):
    """Labelling window over a faceset folder."""

    def __init__(self, faceset: str | os.PathLike[str], frames: str | os.PathLike[str] | None = None):
        super().__init__()
        self.state = EditorState(faceset)
        self.frames = frames
        self.canvas = FaceCanvas(self.state)
        self.reextract = ReextractView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.reextract)
        self.setCentralWidget(self.stack)
        self.help = HelpOverlay(self.stack)
        self.status = QLabel()
        self.statusBar().addWidget(self.status, 1)
        self.canvas.changed.connect(self.update_status)
        self.reextract.applied.connect(self.apply_reextract)
        self.reextract.cancelled.connect(self.leave_reextract)
        self.resize(900, 900)
        self.update_status()

    # ---- status ------------------------------------------------------------------------------------
    def update_status(self) -> None:
        st = self.state
        self.setWindowTitle(f"facecomp xseg edit - {st.path.name} ({st.index + 1}/{len(st.files)})")
        self.status.setText(f"{st.index + 1}/{len(st.files)}  {st.path.name}  mode: {st.mode}  polygons: "
                            f"{len(st.polys)}{' (drawing)' if st.drawing else ''}{'  *' if st.dirty else ''}  "
                            f"view: {self.canvas.view}{' + overlay' if self.canvas.overlay else ''}   H: help")

    def message(self, text: str) -> None:
        self.statusBar().showMessage(text, 4000)

    def resizeEvent(self, e) -> None:  # noqa: N802, ANN001
        super().resizeEvent(e)
        self.help.setGeometry(self.stack.rect())

    # ---- navigation --------------------------------------------------------------------------------
    def goto(self, delta: int = 0, labelled: int = 0) -> None:
        try:
            if labelled:
                if not self.state.jump_labelled(labelled):
                    self.message("no more labelled faces that way")
            else:
                self.state.step(delta)
        except FacecompError as exc:
            self.message(str(exc))
        self.canvas.refresh_image()
        self.update_status()

    # ---- re-extraction -----------------------------------------------------------------------------
    def enter_reextract(self) -> None:
        st = self.state
        assert st.meta is not None
        try:
            frame = find_frame(st.path, st.meta, self.frames)
        except FacecompError as exc:
            self.message(str(exc))
            return
        if st.dirty:
            st.save()
        self.reextract.set_face(frame, np.asarray(st.meta.source_rect), np.asarray(st.meta.source_landmarks))
        self.stack.setCurrentWidget(self.reextract)
        self.reextract.setFocus()

    def apply_reextract(self) -> None:
        st = self.state
        assert st.meta is not None and self.reextract.frame is not None
        try:
            realign(st.path, st.meta, self.reextract.frame, self.reextract.landmarks, self.reextract.rect_)
        except FacecompError as exc:
            self.message(str(exc))
            return
        st.load(st.index)
        self.message(f"{st.path.name} re-aligned and saved")
        self.leave_reextract()

    def leave_reextract(self) -> None:
        self.stack.setCurrentWidget(self.canvas)
        self.canvas.refresh_image()
        self.canvas.setFocus()
        self.update_status()

    # ---- keys --------------------------------------------------------------------------------------
    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802, C901 - one table of keys
        if self.stack.currentWidget() is self.reextract:
            self.reextract.keyPressEvent(e)
            return
        key, mods = e.key(), e.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        st, cv = self.state, self.canvas
        if key == Qt.Key.Key_Q:
            st.set_mode("include")
        elif key == Qt.Key.Key_W:
            st.set_mode("exclude")
        elif key == Qt.Key.Key_Z and ctrl:
            st.redo() if shift else st.undo()
        elif key == Qt.Key.Key_Y and ctrl:
            st.redo()
        elif key == Qt.Key.Key_S and ctrl:
            st.save()
            self.message("saved")
        elif key == Qt.Key.Key_Delete:
            pos = cv.cursor_pos
            x, y = cv.to_image(pos) if pos is not None else (-1.0, -1.0)
            st.delete_poly_at(x, y)
        elif key in (Qt.Key.Key_A, Qt.Key.Key_D):
            sign = -1 if key == Qt.Key.Key_A else 1
            self.goto(labelled=sign) if ctrl else self.goto(delta=sign * (5 if shift else 1))
            return
        elif key == Qt.Key.Key_X:
            try:
                dest = st.trash()
                self.message(f"moved to {dest}")
            except FacecompError as exc:
                self.message(str(exc))
            cv.refresh_image()
        elif key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3):
            cv.scheme = {Qt.Key.Key_1: 1, Qt.Key.Key_2: 2, Qt.Key.Key_3: 3}[Qt.Key(key)]
        elif key in (Qt.Key.Key_4, Qt.Key.Key_5):
            want = "baked" if key == Qt.Key.Key_4 else "applied"
            cv.view = "face" if cv.view == want else want
            cv.refresh_image()
        elif key in (Qt.Key.Key_QuoteLeft, Qt.Key.Key_AsciiTilde):
            cv.overlay = not cv.overlay
            cv.refresh_image()
        elif key == Qt.Key.Key_F:
            cv.reset_view()
        elif key == Qt.Key.Key_E:
            self.enter_reextract()
        elif key in (Qt.Key.Key_H, Qt.Key.Key_F1):
            self.help.setGeometry(self.stack.rect())
            self.help.setVisible(not self.help.isVisible())
            self.help.raise_()
        else:
            super().keyPressEvent(e)
            return
        cv.update()
        self.update_status()

    def closeEvent(self, e) -> None:  # noqa: N802, ANN001
        if self.state.dirty:
            self.state.save()
        super().closeEvent(e)
