"""`facecomp report`: measure a trained model (and optionally a second one) on a shot; write report.json + .html.

report.json (the keys every consumer may rely on)::

    {"format": "facecomp-report", "version": 1, "created", "facecomp_version",
     "shot": {...}, "embedder": {"name", "licence"} | null,
     "model": {"name", "file", "kind", "iteration", "training_seconds", "options", "metadata", ...},
     "identity": {"swap_to_src", "dst_to_src", "swap_to_dst", "src_to_src", "retrieval", "per_frame"},
     "pose": {"error_deg", "pitch_deg", "yaw_deg", "roll_deg", "shape_nme", "mouth_nme", "face_found", ...},
     "reconstruction": {"available", "ssim_dst", "psnr_dst", "ssim_src", "psnr_src", "held_out", ...},
     "jitter": {"landmark_px", "landmark_px_dst", "flicker_ratio", "face_pass_diff", "plate_diff", ...},
     "compare": {same sections for the --compare model} | null}

Nothing is written until every figure is measured; both files are written atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine import __version__
from engine.errors import FacecompError
from engine.quality import reconstruction as recon
from engine.quality.model_info import model_folder_for, model_info
from engine.quality.shot import ShotEvaluator, ShotResult, identity_summary, jitter_summary, pose_summary

log = logging.getLogger("facecomp")

FORMAT = "facecomp-report"
VERSION = 1


@dataclass
class ReportRequest:
    """Everything `facecomp report` was asked (paths resolved by the CLI)."""

    model: Path
    src: Path
    dst: Path
    out: Path
    aligned: Path | None = None
    track: Path | None = None
    compare: Path | None = None
    model_dir: Path | None = None
    compare_dir: Path | None = None
    frames: list[int] | None = None
    max_frames: int = 100
    settings: Path | None = None
    working_space: str | None = None
    provider: str | None = None
    face_type: str | None = None
    recon_src: Path | None = None
    recon_dst: Path | None = None
    recon_faces: int = 32
    src_faces: int = 64


def check_output(out: Path) -> None:
    """Fail before the (long) measurement when the output folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacecompError(f"cannot create the output folder ({exc.strerror or exc})", out) from None
    probe = out / f".facecomp-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise FacecompError(f"output folder is not writable ({exc.strerror or exc})", out) from None


def _faces_source(req: ReportRequest) -> tuple[Any, str]:
    """The landmarks the swaps use: --track, else the aligned faceset (as merge), else detection."""
    from engine.swap.track import Track
    from engine.swap.track_build import build_track

    if req.track is not None:
        return Track.load(req.track), f"track {req.track}"
    aligned = req.aligned if req.aligned is not None else (req.dst / "aligned" if req.dst.is_dir() else None)
    if aligned is not None and aligned.is_dir():
        return build_track(req.dst, aligned, smooth=False, detect_cut=False), f"aligned faceset {aligned}"
    if req.aligned is not None:
        raise FacecompError("aligned faceset folder does not exist", req.aligned)
    return None, "face detection on every frame"


def _reconstruction(req: ReportRequest, model: Path, model_dir: Path | None) -> dict[str, Any]:
    folder = model_folder_for(model, model_dir)
    if folder is None:
        return recon.unavailable("needs the trained model folder (--model-dir): an exported ONNX graph has no "
                                 "src->src / dst->dst path")
    dst_faces = req.recon_dst or req.aligned or (req.dst / "aligned")
    if not Path(dst_faces).is_dir():
        return recon.unavailable(f"no dst faceset to reconstruct ({dst_faces} missing; give --recon-dst)")
    return recon.reconstruction(folder, req.recon_src or req.src, Path(dst_faces), req.recon_faces)


def _model_section(req: ReportRequest, result: ShotResult, index: int, path: Path, model_dir: Path | None,
                   metadata: dict[str, str]) -> dict[str, Any]:
    measured = result.models[index]
    info = model_info(path, metadata, model_folder_for(path, model_dir))
    info["name"] = path.name if index == 0 or path.name != req.model.name else str(path)
    return {
        "model": info,
        "identity": identity_summary(result, measured),
        "pose": pose_summary(result, measured),
        "reconstruction": _reconstruction(req, path, model_dir),
        "jitter": jitter_summary(result, measured),
    }


def build_report(req: ReportRequest) -> tuple[dict[str, Any], ShotResult]:
    """Measure everything; returns the report.json data and the raw per-frame result (for the charts)."""
    from engine.swap.render import load_settings

    for p, what in ((req.model, "model"), (req.compare, "model to compare")):
        if p is not None and not p.is_file():
            raise FacecompError(f"no such {what} file", p)
    if not req.src.is_dir():
        raise FacecompError("src faceset folder does not exist", req.src)
    if not req.dst.exists():
        raise FacecompError("no such dst frames folder or video", req.dst)
    if req.max_frames < 1:
        raise FacecompError("--max-frames must be 1 or more")
    settings = load_settings(req.settings)
    paths = [req.model] + ([req.compare] if req.compare is not None else [])
    for path, folder in zip(paths, (req.model_dir, req.compare_dir), strict=False):
        model_folder_for(path, folder)  # a wrong --model-dir fails now, not after the measurement
    evaluator = ShotEvaluator(paths, req.provider, req.face_type)
    track, faces_from = _faces_source(req)
    result = evaluator.run(req.dst, req.frames, req.max_frames, track, settings, req.working_space, req.src,
                           req.src_faces, faces_from)
    if not result.original.records:
        raise FacecompError(f"no face found in the {len(result.numbers)} frames measured", req.dst)
    sections = [_model_section(req, result, i, p, d, r.model.metadata)
                for i, (p, d, r) in enumerate(zip(paths, (req.model_dir, req.compare_dir), evaluator.renderers,
                                                  strict=False))]
    report: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "facecomp_version": __version__,
        "shot": {
            "source": str(req.dst), "frames_measured": len(result.original.records),
            "frames": result.numbers, "frames_without_face": result.frames_without_face,
            "frame_size": list(result.frame_size), "faces_from": result.faces_from,
            "src": str(req.src), "src_faces": 0 if result.src_embeddings is None else len(result.src_embeddings),
            "settings": str(req.settings) if req.settings else "DFL merger defaults",
        },
        "embedder": result.embedder,
        **sections[0],
        "compare": sections[1] if len(sections) > 1 else None,
    }
    if result.embedder is None:
        report["identity"]["reason"] = evaluator.embedder_missing
    return report, result


def write_report(report: dict[str, Any], result: ShotResult, out: Path) -> tuple[Path, Path]:
    """report.json and report.html in ``out`` (each written atomically)."""
    import json

    from engine import atomic
    from engine.quality.html import charts, render_html, samples_png

    reports = [report] + ([report["compare"]] if report.get("compare") else [])
    page = render_html(report, charts(reports), samples_png(result.original.samples,
                                                             [m.samples for m in result.models]))
    json_path, html_path = out / "report.json", out / "report.html"
    atomic.write_text(json_path, json.dumps(report, indent=1, allow_nan=False))
    atomic.write_text(html_path, page)
    return json_path, html_path


def make_report(req: ReportRequest) -> dict[str, Any]:
    """Measure and write; returns the report.json data."""
    existed = req.out.exists()
    check_output(req.out)
    try:
        report, result = build_report(req)
        write_report(report, result, req.out)
    except BaseException:
        if not existed:  # leave no empty folder behind for a report that was never written
            with contextlib.suppress(OSError):
                req.out.rmdir()
        raise
    return report
