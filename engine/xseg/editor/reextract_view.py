"""Manual re-extraction view: the face's source frame with its face box and 68 landmarks.

Left-drag a landmark to move it; left-drag elsewhere moves the face box; the wheel resizes the box.
R: landmarks from the box (A's landmarker); Enter: re-align the face from the landmarks and save it;
Esc: back to the labelling view without changes.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from engine.xseg.editor.canvas import ImageView, to_qimage
from engine.xseg.editor.reextract import landmarks_from_box


class ReextractView(ImageView):
    """Edits ``rect`` ([l, t, r, b]) and ``landmarks`` (68x2) of one face on ``frame`` (frame pixels)."""

    applied = Signal()
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.frame: np.ndarray | None = None
        self.rect_: np.ndarray = np.zeros(4)
        self.landmarks: np.ndarray = np.zeros((68, 2))
        self.stale = False  # box moved since the landmarks were computed
        self._qimage: QImage | None = None
        self._drag: tuple[str, int] | None = None
        self._last: tuple[float, float] | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def set_face(self, frame: np.ndarray, rect: np.ndarray, landmarks: np.ndarray) -> None:
        self.frame = frame
        self.rect_ = np.asarray(rect, np.float64).copy()
        self.landmarks = np.asarray(landmarks, np.float64).copy()
        self.stale = False
        self._qimage = to_qimage(frame)
        self.update()

    def image_size(self) -> tuple[int, int]:
        assert self.frame is not None
        return self.frame.shape[0], self.frame.shape[1]

    # ---- actions -----------------------------------------------------------------------------------
    def landmarks_from_box(self) -> None:
        assert self.frame is not None
        self.landmarks = landmarks_from_box(self.frame, self.rect_)
        self.stale = False
        self.update()

    def move_box(self, dx: float, dy: float) -> None:
        self.rect_ += [dx, dy, dx, dy]
        self.stale = True
        self.update()

    def resize_box(self, factor: float) -> None:
        c = (self.rect_[:2] + self.rect_[2:]) / 2
        half = (self.rect_[2:] - self.rect_[:2]) / 2 * factor
        self.rect_ = np.concatenate([c - half, c + half])
        self.stale = True
        self.update()

    # ---- events ------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 30))
        if self._qimage is None:
            return
        o, s = self.origin(), self.scale()
        p.drawImage(QRectF(o.x(), o.y(), self._qimage.width() * s, self._qimage.height() * s), self._qimage)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        a, b = self.to_widget(*self.rect_[:2]), self.to_widget(*self.rect_[2:])
        p.setPen(QPen(QColor(0, 255, 255), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(a, b))
        colour = QColor(150, 150, 150) if self.stale else QColor(255, 255, 0)
        p.setPen(QPen(colour, 1))
        p.setBrush(colour)
        for x, y in self.landmarks:
            p.drawEllipse(self.to_widget(x, y), 2, 2)
        p.setPen(QColor(255, 255, 255))
        p.drawText(10, 20, "re-extract: drag landmarks or the box, wheel = box size, R = landmarks from box, "
                           "Enter = re-align + save, Esc = cancel")
        p.end()

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if e.button() != Qt.MouseButton.LeftButton or self.frame is None:
            return
        x, y = self.to_image(e.position())
        d = np.hypot(self.landmarks[:, 0] - x, self.landmarks[:, 1] - y)
        i = int(np.argmin(d))
        self._drag = ("point", i) if d[i] * self.scale() <= 6 else ("box", 0)
        self._last = (x, y)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None or self._last is None:
            return
        x, y = self.to_image(e.position())
        if self._drag[0] == "point":
            self.landmarks[self._drag[1]] = (x, y)
        else:
            self.move_box(x - self._last[0], y - self._last[1])
        self._last = (x, y)
        self.update()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self._drag = None

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        self.resize_box(1.05 if e.angleDelta().y() > 0 else 1 / 1.05)

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802
        if e.key() == Qt.Key.Key_R:
            self.landmarks_from_box()
        elif e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.stale:
                self.landmarks_from_box()
            self.applied.emit()
        elif e.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        else:
            super().keyPressEvent(e)
