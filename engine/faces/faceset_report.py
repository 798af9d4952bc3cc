"""``facecomp faceset report``: one self-contained HTML page per faceset, counts and the faces to look at first.

A face is flagged when it is blurry (CPBD sharpness of the landmark hull, as DFL's blur sort, below a third of
the faceset's median), turned far (|yaw| over 55 degrees or |pitch| over 40), has no XSeg mask or labels while
others have, shares its frame with other faces, or (dlib's identity embedding) lies farther than dlib's
same-person distance from the faceset's mean identity. Flagged faces come first, most flags first; then a
contact sheet of every face (thumbnails as base64 JPEG inside the page, nothing beside it).
"""

from __future__ import annotations

import base64
import html
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine import atomic
from engine.errors import FacecompError
from engine.progress import progress

log = logging.getLogger("facecomp")

BLUR_RATIO = 1 / 3  # sharpness below this share of the faceset median: blurry
MAX_YAW_DEG = 55.0
MAX_PITCH_DEG = 40.0
THUMB = 96  # thumbnail side (px), also in CSS
MAX_SHEET = 5000  # faces shown in the contact sheet (flagged ones are always shown)
CSS = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}
.sheet{display:flex;flex-wrap:wrap;gap:4px}.face{width:96px;font-size:10px;word-break:break-all}
.face img{display:block}.flag{color:#a00}"""


@dataclass
class FaceFinding:
    """One face with its measures and the reasons to look at it."""

    name: str
    yaw_deg: float
    pitch_deg: float
    sharpness: float
    identity_distance: float | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class FacesetReport:
    """What the page shows, also as JSON."""

    folder: str
    html: str
    counts: dict[str, Any]
    findings: list[FaceFinding]
    notes: list[str] = field(default_factory=list)

    def flagged(self) -> list[FaceFinding]:
        return sorted((f for f in self.findings if f.reasons), key=lambda f: (-len(f.reasons), f.name))

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "html": self.html, "counts": self.counts, "notes": self.notes,
                "look_first": [{"file": f.name, "reasons": f.reasons} for f in self.flagged()]}

    def summary(self) -> str:
        c = self.counts
        reasons = ", ".join(f"{n} {k}" for k, n in c["flags"].items() if n) or "none"
        return (f"{c['faces']} faces from {c['frames']} frames; to look at first: {len(self.flagged())} "
                f"({reasons}) -> {self.html}")


def _measure(faces: list[Any]) -> list[FaceFinding]:
    from engine.faces import sort_measures as sm
    from engine.faces.pose import head_pose

    out = []
    for f in progress(faces, total=len(faces), desc="faceset report", unit="face"):
        pitch, yaw, _ = head_pose(f.meta.landmarks, f.meta.size)
        out.append(FaceFinding(f.path.name, float(np.degrees(yaw)), float(np.degrees(pitch)),
                               sm.sharpness(f.image, f.hull())))
    return out


def _identity(faces: list[Any], findings: list[FaceFinding], notes: list[str]) -> None:
    """Distance of each face to the faceset's mean identity (dlib); a note instead when dlib is missing."""
    from engine.faces.identity import SAME_PERSON, FaceEmbedder, distance

    try:
        emb = FaceEmbedder()
    except FacecompError as exc:
        notes.append(f"identity outliers not checked: {exc}")
        return
    vecs = []
    for f in progress(faces, total=len(faces), desc="identity", unit="face"):
        scale = f.image.shape[1] / f.meta.size if f.meta.size else 1.0
        vecs.append(emb.embed(f.image, np.asarray(f.meta.landmarks) * scale))
    arr = np.array(vecs)
    centre = arr.mean(0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    for finding, d in zip(findings, distance(arr, centre)[:, 0], strict=True):
        finding.identity_distance = float(d)
        if d > SAME_PERSON:
            finding.reasons.append("outlier identity")


def _flag(faces: list[Any], findings: list[FaceFinding]) -> None:
    sharp = np.array([f.sharpness for f in findings])
    limit = float(np.median(sharp)) * BLUR_RATIO if len(sharp) else 0.0
    per_frame = Counter(f.meta.source_filename for f in faces)
    any_mask = any(f.meta.xseg_mask or f.meta.xseg_polys for f in faces)
    for face, finding in zip(faces, findings, strict=True):
        if finding.sharpness < limit:
            finding.reasons.append("blurry")
        if abs(finding.yaw_deg) > MAX_YAW_DEG or abs(finding.pitch_deg) > MAX_PITCH_DEG:
            finding.reasons.append("extreme pose")
        if any_mask and not (face.meta.xseg_mask or face.meta.xseg_polys):
            finding.reasons.append("no mask")
        if per_frame[face.meta.source_filename] > 1:
            finding.reasons.append("several faces in its frame")


def _thumb(image: np.ndarray) -> str:
    small = cv2.resize(image, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise FacecompError("thumbnail encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _tile(face: Any, finding: FaceFinding) -> str:
    reasons = "".join(f"<div class=flag>{html.escape(r)}</div>" for r in finding.reasons)
    title = (f"yaw {finding.yaw_deg:.0f}, pitch {finding.pitch_deg:.0f}, sharpness {finding.sharpness:.2f}"
             + (f", identity distance {finding.identity_distance:.2f}" if finding.identity_distance is not None
                else ""))
    return (f"<div class=face title='{html.escape(title)}'><img src='data:image/jpeg;base64,{_thumb(face.image)}' "
            f"width={THUMB} height={THUMB}>{html.escape(finding.name)}{reasons}</div>")


def _page(folder: Path, faces: list[Any], findings: list[FaceFinding], counts: dict[str, Any],
          notes: list[str], unreadable: list[Path]) -> str:
    rows = [("faces", counts["faces"]), ("source frames", counts["frames"]),
            ("face types", ", ".join(f"{k} {v}" for k, v in counts["face_types"].items())),
            ("sizes (px)", ", ".join(f"{k} {v}" for k, v in counts["sizes"].items())),
            ("with XSeg labels", counts["with_labels"]), ("with an XSeg mask", counts["with_mask"]),
            ("files without facecomp metadata", len(unreadable)),
            *((f"flagged: {k}", v) for k, v in counts["flags"].items())]
    table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    by_name = {f.path.name: f for f in faces}
    order = sorted((x for x in findings if x.reasons), key=lambda x: (-len(x.reasons), x.name))
    first = "".join(_tile(by_name[x.name], x) for x in order) or "<p>nothing flagged</p>"
    sheet = "".join(_tile(by_name[x.name], x) for x in findings[:MAX_SHEET])
    more = f"<p>{len(findings) - MAX_SHEET} more faces not shown</p>" if len(findings) > MAX_SHEET else ""
    note = "".join(f"<p class=flag>{html.escape(n)}</p>" for n in notes)
    return (f"<!doctype html><html><head><meta charset=utf-8><title>faceset {html.escape(folder.name)}</title>"
            f"<style>{CSS}</style></head><body><h1>faceset {html.escape(str(folder))}</h1><table>{table}</table>"
            f"{note}<h2>Look at these first ({len(order)})</h2><div class=sheet>{first}</div>"
            f"<h2>All faces</h2><div class=sheet>{sheet}</div>{more}</body></html>")


def faceset_report(folder: str | os.PathLike[str], identity: bool = True) -> tuple[FacesetReport, str]:
    """Measure and flag the faces of ``folder``; returns the report and its HTML page."""
    from engine.faces.sort import load_faceset

    d = Path(folder)
    faces, unreadable = load_faceset(d)
    if not faces:
        raise FacecompError("no facecomp faces here (run facecomp extract, or import-dfl faceset)", d)
    findings = _measure(faces)
    notes: list[str] = []
    if identity:
        _identity(faces, findings, notes)
    _flag(faces, findings)
    flags = Counter(r for f in findings for r in f.reasons)
    counts = {"faces": len(faces), "frames": len({f.meta.source_filename for f in faces}),
              "face_types": dict(Counter(f.meta.face_type for f in faces)),
              "sizes": dict(Counter(int(f.meta.size) for f in faces)),
              "with_labels": sum(bool(f.meta.xseg_polys) for f in faces),
              "with_mask": sum(f.meta.xseg_mask is not None for f in faces), "unreadable": len(unreadable),
              "flags": {k: flags.get(k, 0) for k in ("blurry", "extreme pose", "no mask",
                                                     "several faces in its frame", "outlier identity")}}
    if unreadable:
        notes.append(f"{len(unreadable)} files without facecomp metadata, e.g. {unreadable[0].name}")
    report = FacesetReport(str(d), "", counts, findings, notes)
    return report, _page(d, faces, findings, counts, notes, unreadable)


def write_faceset_report(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                         identity: bool = True) -> FacesetReport:
    """Write the report page (default FOLDER/faceset_report.html) and return the report."""
    report, page = faceset_report(folder, identity)
    target = Path(out) if out is not None else Path(folder) / "faceset_report.html"
    atomic.write_text(target, page)
    report.html = str(target)
    return report
