"""The face canvas of the XSeg editor: the aligned face, the polygons and the mask overlay; mouse editing.

Mouse (DFL's): left click on empty space starts a polygon, further clicks add points, clicking the first
point (3+ points) closes it; left-drag moves a point; Ctrl+click deletes the point under the cursor (a
polygon left with < 3 points goes) or inserts one on the edge under it; middle-drag pans; the wheel zooms
1-20x around the cursor.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QWidget

from engine.xseg.editor.state import PICK_RADIUS, EditorState

SCHEMES = {  # 1/2/3: (include, exclude) colours
    1: (QColor(0, 255, 0), QColor(255, 0, 0)),
    2: (QColor(255, 255, 255), QColor(0, 0, 0)),
    3: (QColor(0, 200, 255), QColor(255, 0, 255)),
}


def to_qimage(img: np.ndarray) -> QImage:
    """BGR uint8 (or HxW gray) numpy -> a QImage that owns its pixels."""
    a = np.ascontiguousarray(img if img.dtype == np.uint8 else (np.clip(img, 0, 1) * 255).astype(np.uint8))
    if a.ndim == 2:
        return QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8).copy()
    rgb = np.ascontiguousarray(a[..., ::-1])
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()


class ImageView(QWidget):
    """A widget showing an image fitted to its size, times ``zoom``, shifted by ``pan``; maps coordinates."""

    zoom = 1.0
    pan = QPointF(0, 0)

    def image_size(self) -> tuple[int, int]:
        """(height, width) of the shown image."""
        raise NotImplementedError

    def scale(self) -> float:
        h, w = self.image_size()
        return min(self.width() / w, self.height() / h) * self.zoom

    def origin(self) -> QPointF:
        h, w = self.image_size()
        s = self.scale()
        return QPointF((self.width() - w * s) / 2 + self.pan.x(), (self.height() - h * s) / 2 + self.pan.y())

    def to_widget(self, x: float, y: float) -> QPointF:
        """Image pixel coordinates (pixel centres at integers) -> widget coordinates."""
        o, s = self.origin(), self.scale()
        return QPointF(o.x() + (x + 0.5) * s, o.y() + (y + 0.5) * s)

    def to_image(self, p: QPointF) -> tuple[float, float]:
        """Widget coordinates -> image pixel coordinates."""
        o, s = self.origin(), self.scale()
        return (p.x() - o.x()) / s - 0.5, (p.y() - o.y()) / s - 0.5


class FaceCanvas(ImageView):
    """Shows ``state``'s current face; edits its polygons with the mouse."""

    changed = Signal()

    def __init__(self, state: EditorState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.zoom = 1.0
        self.pan = QPointF(0, 0)
        self.scheme = 1
        self.view = "face"  # face | baked | applied
        self.overlay = False
        self.cursor_pos: QPointF | None = None
        self._drag: tuple[int, int] | None = None
        self._pan_from: QPointF | None = None
        self._qimage: QImage | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(384, 384)
        self.refresh_image()

    def image_size(self) -> tuple[int, int]:
        assert self.state.image is not None
        return self.state.image.shape[0], self.state.image.shape[1]

    def pick_radius(self) -> float:
        return max(PICK_RADIUS / self.scale(), 0.5) * 1.5

    def reset_view(self) -> None:
        self.zoom, self.pan = 1.0, QPointF(0, 0)
        self.update()

    def refresh_image(self) -> None:
        """Rebuild the shown picture (face, or the baked / applied mask view, with the overlay)."""
        st = self.state
        assert st.image is not None
        img = st.image.astype(np.float32) / (255.0 if st.image.dtype == np.uint8 else 1.0)
        if self.view == "baked":
            m = st.label_mask()
            img = np.repeat((m if m is not None else np.zeros(img.shape[:2], np.float32))[..., None], 3, 2)
        elif self.view == "applied":
            m = st.applied_mask()
            img = np.repeat((m if m is not None else np.zeros(img.shape[:2], np.float32))[..., None], 3, 2)
        elif self.overlay:
            m = st.applied_mask()
            if m is not None:
                tint = np.array([0.2, 0.9, 0.2], np.float32)
                img = img * (1 - 0.45 * m[..., None]) + tint * 0.45 * m[..., None]
        self._qimage = to_qimage(img)
        self.update()

    # ---- painting ----------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 40))
        if self._qimage is None:
            return
        o, s = self.origin(), self.scale()
        p.drawImage(QRectF(o.x(), o.y(), self._qimage.width() * s, self._qimage.height() * s), self._qimage)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        inc, exc = SCHEMES[self.scheme]
        st = self.state
        for i, poly in enumerate(st.polys):
            colour = inc if poly.kind == "include" else exc
            pts = [self.to_widget(x, y) for x, y in poly.points]
            open_poly = st.drawing and i == len(st.polys) - 1
            fill = QColor(colour)
            fill.setAlpha(0 if open_poly else 50)
            p.setPen(QPen(colour, 1.5))
            p.setBrush(fill)
            if open_poly:
                if self.cursor_pos is not None and pts:
                    pts_line = [*pts, self.cursor_pos]
                else:
                    pts_line = pts
                p.drawPolyline(QPolygonF(pts_line))
            else:
                p.drawPolygon(QPolygonF(pts))
            p.setBrush(colour)
            for q in pts:
                p.drawEllipse(q, 3, 3)
        p.end()

    # ---- mouse -------------------------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        x, y = self.to_image(e.position())
        r = self.pick_radius()
        if e.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = e.position()
            return
        if e.button() != Qt.MouseButton.LeftButton:
            return
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.state.ctrl_click(x, y, r)
        else:
            hit = self.state.find_point(x, y, r)
            closing = self.state.drawing and hit == (len(self.state.polys) - 1, 0)
            if hit is not None and not closing and not self.state.drawing:
                self.state.begin_drag()
                self._drag = hit
                return
            self.state.click(x, y, r)
        self._edited()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self.cursor_pos = e.position()
        if self._pan_from is not None:
            d = e.position() - self._pan_from
            self.pan += d
            self._pan_from = e.position()
        elif self._drag is not None:
            x, y = self.to_image(e.position())
            self.state.move_point(*self._drag, x, y)
            self.changed.emit()
        self.update()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._drag is not None:
            self._drag = None
            self._edited()
        self._pan_from = None

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        before = self.to_image(e.position())
        factor = 1.25 if e.angleDelta().y() > 0 else 0.8
        self.zoom = float(np.clip(self.zoom * factor, 1.0, 20.0))
        after = self.to_widget(*before)
        self.pan += e.position() - after
        self.update()

    def _edited(self) -> None:
        if self.view == "baked":
            self.refresh_image()
        self.changed.emit()
        self.update()
