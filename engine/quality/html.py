"""report.html: one self-contained page (charts and sample frames as base64 PNG, no external files)."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import cv2
import numpy as np

# (section, key, label, better) rows of the summary table; better: "higher", "lower" or "" (no direction)
SUMMARY_ROWS = [
    ("identity", "swap_to_src", "identity: swap vs src (cosine)", "higher"),
    ("identity", "dst_to_src", "identity: original dst vs src (cosine)", ""),
    ("identity", "swap_to_dst", "identity: swap vs original dst (cosine)", "lower"),
    ("identity", "retrieval", "identity: share of frames closer to src than to dst", "higher"),
    ("identity", "swap_same_person_as_src", "identity: share of frames the embedder calls the src person", "higher"),
    ("pose", "error_deg", "pose error, degrees (L2 of pitch/yaw/roll)", "lower"),
    ("pose", "shape_nme", "landmark-shape distance, inner 51 points (NME %)", "lower"),
    ("pose", "mouth_nme", "mouth-shape distance (NME %)", "lower"),
    ("pose", "face_found", "swapped faces re-detected", "higher"),
    ("reconstruction", "ssim_dst", "reconstruction SSIM dst->dst", "higher"),
    ("reconstruction", "psnr_dst", "reconstruction PSNR dst->dst (dB)", "higher"),
    ("reconstruction", "ssim_src", "reconstruction SSIM src->src", "higher"),
    ("reconstruction", "psnr_src", "reconstruction PSNR src->src (dB)", "higher"),
    ("jitter", "landmark_px", "landmark jitter on the swap (px)", "lower"),
    ("jitter", "landmark_px_dst", "landmark jitter on the original (px)", ""),
    ("jitter", "flicker_ratio", "face-pass change / plate change on still frames", "lower"),
]

CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f0f0f0}td.num{text-align:right;font-family:monospace}.best{font-weight:bold;color:#060}
img{max-width:100%}.note{color:#555;font-size:90%}details{margin:.5em 0}"""


def png_base64(image_bgr: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise ValueError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _figure_png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _series(section: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    rows = section.get("per_frame") or []
    return [r["frame"] for r in rows], [r[key] for r in rows]


def charts(reports: list[dict[str, Any]]) -> dict[str, str]:
    """Per-frame charts (base64 PNG) of one or two models' reports."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["model"]["name"] for r in reports]
    out: dict[str, str] = {}
    if any(r["identity"].get("per_frame") for r in reports):
        fig, ax = plt.subplots(figsize=(9, 3))
        for name, r in zip(names, reports, strict=True):
            ax.plot(*_series(r["identity"], "swap_to_src"), label=f"swap vs src: {name}")
        ax.plot(*_series(reports[0]["identity"], "dst_to_src"), "k--", label="original dst vs src")
        ax.set_xlabel("frame")
        ax.set_ylabel("cosine similarity")
        ax.legend(fontsize=8)
        out["identity"] = _figure_png(fig)
    if any(r["pose"].get("per_frame") for r in reports):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3))
        first = reports[0]["pose"]["per_frame"]
        axes[0].plot([p["frame"] for p in first], [p["dst"][1] for p in first], "k--", label="original dst")
        for name, r in zip(names, reports, strict=True):
            rows = r["pose"]["per_frame"]
            axes[0].plot([p["frame"] for p in rows], [p["swap"][1] for p in rows], label=name)
            axes[1].plot([p["frame"] for p in rows], [p["error_deg"] for p in rows], label=name)
        axes[0].set_title("yaw (degrees)")
        axes[1].set_title("pose error (degrees)")
        for ax in axes:
            ax.set_xlabel("frame")
            ax.legend(fontsize=8)
        out["pose"] = _figure_png(fig)
    if any(r["jitter"].get("per_frame") for r in reports):
        fig, ax = plt.subplots(figsize=(9, 3))
        for name, r in zip(names, reports, strict=True):
            ax.plot(*_series(r["jitter"], "face_pass_diff"), ".-", label=f"face pass: {name}")
        ax.plot(*_series(reports[0]["jitter"], "plate_diff"), "k.--", label="plate")
        ax.set_xlabel("frame (still pairs only)")
        ax.set_ylabel("mean |change| (0-255)")
        ax.legend(fontsize=8)
        out["stability"] = _figure_png(fig)
    return out


def samples_png(original: list[np.ndarray], swapped: list[list[np.ndarray]]) -> str | None:
    """One PNG: per sample frame a row original | model 1 | model 2."""
    if not original:
        return None
    rows = []
    for i, orig in enumerate(original):
        cells = [orig] + [s[i] for s in swapped if i < len(s)]
        rows.append(np.concatenate(cells, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [cv2.copyMakeBorder(r, 2, 2, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
            for r in rows]
    return png_base64(np.concatenate(rows, axis=0))


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _best(values: list[Any], better: str) -> int | None:
    nums = [(i, v) for i, v in enumerate(values) if isinstance(v, int | float)]
    if len(nums) < 2 or not better:
        return None
    pick = max(nums, key=lambda t: t[1]) if better == "higher" else min(nums, key=lambda t: t[1])
    return pick[0]


def summary_table(reports: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(r['model']['name'])}</th>" for r in reports)
    lines = [f"<table><tr><th>figure</th>{head}<th>better</th></tr>"]
    for section, key, label, better in SUMMARY_ROWS:
        values = [r.get(section, {}).get(key) for r in reports]
        best = _best(values, better)
        cells = "".join(f"<td class=\"num{' best' if i == best else ''}\">{_fmt(v)}</td>" for i, v in enumerate(values))
        lines.append(f"<tr><td>{html.escape(label)}</td>{cells}<td>{better or '-'}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def model_table(reports: list[dict[str, Any]]) -> str:
    keys = [("kind", "model"), ("iteration", "iteration"), ("training_hours", "training time (h)"),
            ("resolution", "resolution"), ("face_type", "face type"), ("bytes", "file size (bytes)"),
            ("sha256", "sha256")]
    head = "".join(f"<th>{html.escape(r['model']['name'])}</th>" for r in reports)
    lines = [f"<table><tr><th></th>{head}</tr>"]
    for key, label in keys:
        cells = "".join(f"<td>{_fmt(r['model'].get(key))}</td>" for r in reports)
        lines.append(f"<tr><td>{label}</td>{cells}</tr>")
    lines.append("</table>")
    for r in reports:
        opts = json.dumps(r["model"].get("options") or {}, indent=1, sort_keys=True)
        meta = json.dumps(r["model"].get("metadata") or {}, indent=1, sort_keys=True)
        lines.append(f"<details><summary>{html.escape(r['model']['name'])}: options and ONNX metadata</summary>"
                     f"<pre>{html.escape(opts)}</pre><pre>{html.escape(meta)}</pre></details>")
    return "\n".join(lines)


def render_html(report: dict[str, Any], chart_pngs: dict[str, str], samples: str | None) -> str:
    """The whole page for ``report`` (the report.json data, with ``compare`` for a second model)."""
    reports = [report] + ([report["compare"]] if report.get("compare") else [])
    shot = report["shot"]
    emb = report.get("embedder") or {}
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>facecomp report</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>facecomp report: {html.escape(' vs '.join(r['model']['name'] for r in reports))}</h1>",
        f"<p class=note>shot {html.escape(str(shot['source']))}: {shot['frames_measured']} frames measured, "
        f"{len(shot['frames_without_face'])} without a face; faces from {html.escape(shot['faces_from'])}; "
        f"src faceset {html.escape(str(shot['src']))} ({shot['src_faces']} faces embedded); "
        f"facecomp {html.escape(report['facecomp_version'])}, {html.escape(report['created'])}</p>",
        "<h2>Summary</h2>", summary_table(reports),
        "<h2>Identity</h2>",
        f"<p class=note>Embedding model: {html.escape(emb.get('name', 'not available'))}. "
        f"Licence: {html.escape(emb.get('licence', report['identity'].get('reason', '')))}</p>",
    ]
    for key, title in (("identity", ""), ("pose", "<h2>Pose and expression</h2>"),
                       ("stability", "<h2>Temporal stability</h2>")):
        parts.append(title)
        if key in chart_pngs:
            parts.append(f"<img alt=\"{key}\" src=\"data:image/png;base64,{chart_pngs[key]}\">")
    rec = report["reconstruction"]
    parts.append("<h2>Reconstruction</h2>")
    if not rec.get("available"):
        parts.append(f"<p class=note>{html.escape(rec.get('reason', ''))}</p>")
    else:
        parts.append(f"<p class=note>{html.escape(rec['method'])}; faces from {html.escape(rec['src_folder'])} and "
                     f"{html.escape(rec['dst_folder'])}; held out from training: {rec['held_out']}.</p>")
    if samples:
        parts.append("<h2>Sample frames</h2><p class=note>original | " +
                     html.escape(" | ".join(r["model"]["name"] for r in reports)) + "</p>")
        parts.append(f"<img alt=\"samples\" src=\"data:image/png;base64,{samples}\">")
    parts += ["<h2>Models</h2>", model_table(reports), "<h2>How to read this</h2>",
              "<p class=note>See docs/quality.md. Identity: cosine similarity of face embeddings with the mean "
              "identity of the src faceset; the swap should score clearly above the original dst. Pose error "
              "and shape distances compare landmarks re-detected on the swapped frame with those re-detected "
              "on the original frame. Jitter is the RMS second difference of those landmarks over consecutive "
              "frames; the flicker ratio compares the face pass's frame-to-frame change with the plate's "
              "on frames where the face is still.</p>",
              "</body></html>"]
    return "\n".join(p for p in parts if p)
