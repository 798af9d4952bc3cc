"""The XSeg editor, headless (Qt offscreen): draw polygons by simulated clicks, autosave, undo, trash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.faces.faceset import list_faces, read_meta  # noqa: E402
from engine.xseg.editor.window import EditorWindow  # noqa: E402
from tests.xseg.conftest import copy_faces  # noqa: E402

NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture(scope="module")
def app() -> QApplication:
    return QApplication.instance() or QApplication([])


def _click(window: EditorWindow, x: float, y: float, mods=NONE) -> None:  # noqa: ANN001
    p = window.canvas.to_widget(x, y)
    QTest.mouseClick(window.canvas, Qt.MouseButton.LeftButton, mods, QPoint(round(p.x()), round(p.y())))


def test_draw_polygons_save_and_navigate(app: QApplication, dst_faces: Path, tmp_path: Path) -> None:
    faces = copy_faces(dst_faces, tmp_path / "aligned", 4)
    w = EditorWindow(faces)
    w.show()
    QTest.qWaitForWindowExposed(w)
    square = [(60, 60), (190, 60), (190, 200), (60, 200)]
    for x, y in [*square, square[0]]:
        _click(w, x, y)
    assert len(w.state.polys) == 1 and not w.state.drawing
    QTest.keyClick(w, Qt.Key.Key_W)  # exclude mode
    for x, y in [(100, 100), (140, 100), (140, 140), (100, 100)]:
        _click(w, x, y)
    _click(w, 190, 130, Qt.KeyboardModifier.ControlModifier)  # insert a point on the right edge
    assert len(w.state.polys[0].points) == 5
    QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the insert
    assert len(w.state.polys[0].points) == 4
    QTest.keyClick(w, Qt.Key.Key_H)
    assert w.help.isVisible()
    QTest.keyClick(w, Qt.Key.Key_4)  # baked label view renders
    QTest.keyClick(w, Qt.Key.Key_D)  # next face: autosave
    meta = read_meta(list_faces(faces)[0])
    assert [p["type"] for p in meta.xseg_polys] == ["include", "exclude"]
    pts = meta.xseg_polys[0]["points"]
    assert all(abs(a - b) < 1.5 for p, q in zip(pts, square, strict=True) for a, b in zip(p, q, strict=True))
    assert w.state.index == 1
    QTest.keyClick(w, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)  # no labelled face ahead
    assert w.state.index == 1
    QTest.keyClick(w, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # back to the labelled face
    assert w.state.index == 0 and len(w.state.polys) == 2
    first = list_faces(faces)[0].name
    QTest.keyClick(w, Qt.Key.Key_X)  # trash the face
    assert [p.name for p in list_faces(tmp_path / "aligned_trash")] == [first]
    assert len(list_faces(faces)) == 3 and w.state.path.name != first
    w.close()


def test_reextract_realigns_and_keeps_labels(app: QApplication, dst_faces: Path, dst_frames: Path,
                                             tmp_path: Path) -> None:
    faces = copy_faces(dst_faces, tmp_path / "aligned", 1)
    w = EditorWindow(faces, dst_frames)
    w.show()
    for x, y in [(60, 60), (190, 60), (190, 200), (60, 60)]:
        _click(w, x, y)
    QTest.keyClick(w, Qt.Key.Key_E)
    assert w.stack.currentWidget() is w.reextract
    view = w.reextract
    old_lm = read_meta(list_faces(faces)[0]).source_landmarks
    view.landmarks += 4.0  # as if every landmark were dragged 4 px right and down
    QTest.keyClick(view, Qt.Key.Key_Return)
    assert w.stack.currentWidget() is w.canvas
    meta = read_meta(list_faces(faces)[0])
    assert abs(meta.source_landmarks - (old_lm + 4.0)).max() < 1e-3 and meta.landmarker == "manual"
    pts = meta.xseg_polys[0]["points"]  # the polygon moved with the new alignment (same frame place)
    assert abs(pts[0][0] - 60) > 0.5
    w.close()
