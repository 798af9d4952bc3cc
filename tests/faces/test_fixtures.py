"""The shared face fixtures other areas build on: every frame gives one face with full metadata."""

from __future__ import annotations

from engine.faces.faceset import list_faces, read_meta


def test_dst_faces_fixture(dst_frames, dst_faces):
    frames = sorted(dst_frames.glob("*.png"))
    faces = list_faces(dst_faces)
    assert len(frames) == 40 and frames[0].name == "00001.png"
    assert len(faces) == 40
    meta = read_meta(faces[0])
    assert meta.face_type == "whole_face" and meta.size == 256
    assert meta.source_filename == "00001.png" and meta.source_frame == 1


def test_src_faces_fixture(src_faces):
    faces = list_faces(src_faces)
    assert len(faces) == 41
    assert {read_meta(f).source_filename for f in faces} == {f"twitch_{i:03d}.jpg" for i in range(41)}
