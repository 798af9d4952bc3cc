"""Face extraction into a faceset: DeepFaceLab's extractor (dfl.md §2) with packaged ONNX models.

Faces of each frame come from :class:`engine.faces.face_finder.FaceExtractor` (detection, landmarks, second
pass), or from given boxes/landmarks (``--manual``, ``--import-alignments``). They are sorted largest first,
``max_faces`` kept, aligned with DFL's geometry (:mod:`engine.faces.align`) and written as
``<frame stem>_<i>.jpg`` with JSON metadata (:mod:`engine.faces.faceset`). Frames without a face are
reported, not errors.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import FacecompError
from engine.faces.align import transform_mat, transform_points, warp_face
from engine.faces.face_finder import DetectedFace, FaceExtractor
from engine.faces.facetype import FaceType
from engine.faces.manual import GivenFace
from engine.media.plate_space import plate_space

log = logging.getLogger("facecomp")

__all__ = ["DetectedFace", "ExtractOptions", "ExtractReport", "FaceExtractor", "extract_faces"]


@dataclass
class ExtractReport:
    """What an extraction did: counts, frames without faces, time."""

    frames: int = 0
    faces: int = 0
    no_face: list[str] = field(default_factory=list)
    rejected: int = 0
    seconds: float = 0.0
    out_dir: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {"frames": self.frames, "faces": self.faces, "frames_without_face": self.no_face,
                "rejected": self.rejected, "seconds": round(self.seconds, 3), "fps": round(self.fps, 3),
                "out_dir": self.out_dir}


def face_record(face: DetectedFace, face_type: FaceType, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(2x3 frame->face matrix, 68 aligned landmarks) of a face."""
    mat = transform_mat(face.landmarks, size, face_type)
    return mat, transform_points(face.landmarks, mat)


def too_loose(face: DetectedFace, mat: np.ndarray, size: int, face_type: FaceType) -> bool:
    """DFL's reject rule: for face types up to full_face, an aligned square over 4x the detector box's area."""
    if face_type > FaceType.FULL_NO_ALIGN or face.area <= 0:
        return False
    corners = transform_points(np.array([[0, 0], [size, 0], [size, size], [0, size]], float), mat, invert=True)
    x, y = corners[:, 0], corners[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    return area > 4 * face.area


def write_faces(image: np.ndarray, faces: list[DetectedFace], out_dir: Path, stem: str, source_filename: str,
                frame_number: int, face_type: FaceType, size: int, jpeg_quality: int,
                ext: str = ".jpg") -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Warp and write each face as ``<stem>_<i><ext>``; returns (rect, landmarks, mat) of those written."""
    from engine.faces.faceset import FaceMeta, write_face

    written = []
    for i, face in enumerate(faces):
        mat, aligned = face_record(face, face_type, size)
        meta = FaceMeta(
            face_type=face_type.label, size=size, landmarks=aligned, source_filename=source_filename,
            source_frame=frame_number, source_rect=[float(v) for v in face.rect], source_landmarks=face.landmarks,
            image_to_face_mat=mat, face_index=i, detector=face.detector, landmarker=face.landmarker,
            extra={"score": round(float(face.score), 4), "source_size": [int(image.shape[1]), int(image.shape[0])]}
            | ({"rotation": face.rotation} if face.rotation else {}),
        )
        write_face(out_dir / f"{stem}_{i}{ext}", warp_face(image, mat, size), meta, jpeg_quality)
        written.append((face.rect, face.landmarks, mat))
    return written


@dataclass
class ExtractOptions:
    """Settings of one extraction run (DFL's extractor options plus ours)."""

    face_type: str | FaceType = "whole_face"
    image_size: int = 512
    jpeg_quality: int = 95
    max_faces: int = 0
    debug_dir: str | Path | None = None
    providers: list[str] | str | None = None
    working_space: str | None = None
    overwrite: bool = False
    second_pass: bool = True
    manual: str | Path | None = None  # re-extract only the frames of this JSON file (engine.faces.manual)
    import_alignments: str | Path | None = None  # faces from a faceswap-style alignments file
    export_alignments: str | Path | None = None  # write the faceset's alignments here afterwards

    def check(self) -> FaceType:
        ft = FaceType.parse(self.face_type)
        if ft == FaceType.MARK_ONLY:
            raise FacecompError("face type mark_only is not supported by extract")
        if not 64 <= self.image_size <= 4096:
            raise FacecompError(f"--image-size {self.image_size} outside 64..4096")
        if not 1 <= self.jpeg_quality <= 100:
            raise FacecompError(f"--jpeg-quality {self.jpeg_quality} outside 1..100")
        if self.max_faces < 0:
            raise FacecompError(f"--max-faces {self.max_faces} must be 0 (all) or more")
        if self.manual and self.import_alignments:
            raise FacecompError("use either --manual or --import-alignments, not both")
        return ft


def faces_from_given(extractor: FaceExtractor, image: np.ndarray, given: list[GivenFace]) -> list[DetectedFace]:
    """Faces from boxes/landmarks supplied by the user or another tool, in the order given."""
    out = []
    for g in given:
        if g.landmarks is not None and not g.refine:
            rect = g.rect if g.rect is not None else np.concatenate([g.landmarks.min(0), g.landmarks.max(0)])
            out.append(DetectedFace(np.asarray(rect, np.float64), g.landmarks.copy(), 1.0, None, "given",
                                    landmarker="given"))
        elif g.landmarks is not None:
            face = extractor.refine(image, g.landmarks)
            if g.rect is not None:
                face.rect = np.asarray(g.rect, np.float64)
            out.append(face)
        else:
            assert g.rect is not None
            out.append(extractor.landmarks_from_rect(image, g.rect))
    return out


def _old_faces(out: Path, stem: str) -> list[Path]:
    """Faces ``<stem>_<i>.*`` already in a faceset folder (replaced when that frame is re-extracted)."""
    from engine.faces.faceset import list_faces

    return [p for p in list_faces(out) if p.stem.rpartition("_")[0] == stem and p.stem.rpartition("_")[2].isdigit()]


def extract_faces(frames_spec: str | Path, out_dir: str | Path, face_type: str | FaceType = "whole_face",
                  image_size: int = 512, jpeg_quality: int = 95, max_faces: int = 0,
                  debug_dir: str | Path | None = None, **options) -> ExtractReport:
    """Extract every face of a video / image sequence / folder into ``out_dir`` (``<frame>_<i>.jpg``).

    ``options``: the other fields of :class:`ExtractOptions` (providers, working_space, overwrite,
    second_pass, manual, import_alignments, export_alignments).
    """
    from engine.faces.alignments_json import faceset_alignments, read_alignments, write_alignments
    from engine.faces.faceset import list_faces
    from engine.faces.manual import lookup, read_manual
    from engine.media.frames import open_frames
    from engine.progress import progress

    opt = ExtractOptions(face_type, image_size, jpeg_quality, max_faces, debug_dir, **options)
    ft = opt.check()
    given = read_manual(opt.manual) if opt.manual else None
    if opt.import_alignments:
        given = read_alignments(opt.import_alignments)
    source = open_frames(frames_spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old = list_faces(out)
    if old and not opt.overwrite and not opt.manual:
        raise FacecompError(f"already holds {len(old)} faces (use --overwrite to replace them)", out)
    if not opt.manual:
        for p in old:
            p.unlink()
    dbg = Path(opt.debug_dir) if opt.debug_dir else None
    if dbg:
        dbg.mkdir(parents=True, exist_ok=True)
    extractor = FaceExtractor(opt.providers, max_faces=opt.max_faces, second_pass=opt.second_pass)
    report = ExtractReport(out_dir=str(out))
    start = time.perf_counter()
    used: set[str] = set()
    total = len(source.numbers) if hasattr(source, "files") else None
    for frame in progress(source, total=total, desc="extract", unit="frame"):
        src_name = frame.path.name if frame.path is not None else f"{frame.name}.png"
        listed = lookup(given, src_name, frame.name, frame.number) if given is not None else None
        if opt.manual and listed is None:
            continue
        image = frame_to_uint8(frame.image, frame.path, opt.working_space)
        if given is None:
            faces = extractor.detect(image)
        else:
            used.update(k for k in (src_name, frame.name, str(frame.number)) if k in given)
            faces = faces_from_given(extractor, image, listed or [])
        kept = []
        for f in faces:
            mat, _ = face_record(f, ft, opt.image_size)
            if given is None and too_loose(f, mat, opt.image_size, ft):
                report.rejected += 1
            else:
                kept.append(f)
        if opt.manual:
            for p in _old_faces(out, frame.name):
                p.unlink()
        drawn = write_faces(image, kept, out, frame.name, src_name, frame.number, ft, opt.image_size,
                            opt.jpeg_quality)
        report.frames += 1
        report.faces += len(drawn)
        if not drawn:
            report.no_face.append(src_name)
        if dbg is not None:
            from engine.faces.debug_draw import debug_image
            from engine.media.image_io import write_image

            write_image(dbg / f"{frame.name}.jpg", debug_image(image, drawn, opt.image_size), 50)
    report.seconds = time.perf_counter() - start
    if given is not None and (unknown := sorted(set(given) - used)):
        what = opt.manual or opt.import_alignments
        raise FacecompError(f"{len(unknown)} listed frames are not in {frames_spec} (e.g. {unknown[0]!r})", what)
    if opt.export_alignments:
        write_alignments(opt.export_alignments, faceset_alignments(out))
    return report


def frame_to_uint8(image: np.ndarray, path: Path | None, working_space: str | None) -> np.ndarray:
    """A frame as 8-bit BGR in the models' space, its colour space found by engine.media.plate_space's rule
    (the given working space, else the EXR's ``oiio:ColorSpace``, else ACEScg for an EXR; 8-bit: sRGB)."""
    from engine.media.color import to_model_space

    if image.dtype == np.uint8:
        return image
    return to_model_space(image, plate_space(path, image, working_space))
