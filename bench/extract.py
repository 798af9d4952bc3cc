"""Extraction benchmark: detection recall, landmark agreement with dlib (NME) and speed, ours vs dlib.

    .venv/bin/python bench/extract.py [--skip-video] [--json]

Sets (../shared/data/images):
* annotated_pascal: 18 hand-drawn boxes; the 68 points in its XML were made by dlib's predictor on those boxes.
* in_the_wild: 46 photos; the reference is dlib-68 on the largest dlib HOG box (upsample 1), made in this run.
NME = mean point error / outer-eye-corner distance (points 36, 45), over the inner 51 points, the 17 jaw
points and all 68; mean and median over matched faces. A face matches a reference when its landmark centre is
within half the reference box width (as the foundation check). Speed: faces found per second of
detection + landmarks, ours and dlib HOG (upsample 1) + dlib 68 on the same images in the same process.
These figures measure agreement with dlib, not truth. dlib is used here only as a reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import DATA, Row, cpu_name  # noqa: E402


def pascal_refs() -> list[tuple[Path, list[tuple[np.ndarray, np.ndarray]]]]:
    folder = DATA / "images" / "annotated_pascal"
    items = []
    for img in ET.parse(folder / "training_with_face_landmarks.xml").getroot().iter("image"):
        refs = []
        for box in img.iter("box"):
            parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
            l, t, w, h = (float(box.get(k)) for k in ("left", "top", "width", "height"))
            lm = np.array([[float(p.get("x")), float(p.get("y"))] for p in parts])
            refs.append((np.array([l, t, l + w, t + h]), lm))
        items.append((folder / img.get("file"), refs))
    return items


def nme(lm: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    e = np.linalg.norm(lm - ref, axis=1) / np.linalg.norm(ref[36] - ref[45]) * 100
    return float(e[17:].mean()), float(e[:17].mean()), float(e.mean())


NME = tuple[float, float, float]


def match(found: list[np.ndarray], refs: list[tuple[np.ndarray, np.ndarray]]) -> list[NME | None]:
    """Greedy one-to-one matching of found landmark sets to references; NME per reference (None: missed)."""
    used: set[int] = set()
    out = []
    for rect, ref in refs:
        width = rect[2] - rect[0]
        best = None
        for i, lm in enumerate(found):
            d = np.linalg.norm(lm.mean(0) - ref.mean(0))
            if i not in used and d < 0.5 * width and (best is None or d < best[0]):
                best = (d, i)
        if best is None:
            out.append(None)
        else:
            used.add(best[1])
            out.append(nme(found[best[1]], ref))
    return out


def summary(rows: list[tuple[float, float, float] | None]) -> dict:
    got = np.array([r for r in rows if r is not None]) if any(r is not None for r in rows) else np.zeros((0, 3))
    s = {"recall": f"{len(got)}/{len(rows)}", "recall_ratio": round(len(got) / max(len(rows), 1), 3)}
    for i, name in enumerate(("inner51", "jaw", "all68")):
        if len(got):
            s[name] = {"mean": round(float(got[:, i].mean()), 2), "median": round(float(np.median(got[:, i])), 2)}
    return s


def measure(skip_video: bool, limit: int | None = None) -> dict:
    """Recall, NME and speed on both sets (the first ``limit`` images of each), and the video extraction."""
    import cv2

    from bench.dlib_reference import DlibReference
    from engine.faces.extract_faceset import FaceExtractor

    ours, dlib_ref = FaceExtractor(), DlibReference(upsample=1)
    read = lambda p: cv2.imread(str(p))  # noqa: E731
    pascal = [(read(p), refs) for p, refs in pascal_refs()[:limit]]
    wild = []
    for p in sorted((DATA / "images" / "in_the_wild").glob("*.jpg"))[:limit]:
        img = read(p)
        faces = dlib_ref.detect(img)
        biggest = max(faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]), default=None)
        wild.append((img, [biggest] if biggest is not None else []))
    ours.detect(pascal[0][0])  # warm-up (session creation)
    dlib_ref.detect(pascal[0][0])
    result: dict = {"cpu": cpu_name(), "load_average_at_start": os.getloadavg(),
                    "threads_per_model": int(os.environ.get("FACECOMP_THREADS", "1"))}
    totals = {"ours": [0, 0.0], "dlib": [0, 0.0]}
    for name, items in (("annotated_pascal", pascal), ("in_the_wild", wild)):
        rows: dict[str, list] = {"ours": [], "dlib": []}
        for img, refs in items:
            t = time.perf_counter()
            faces = ours.detect(img)
            totals["ours"][1] += time.perf_counter() - t
            totals["ours"][0] += len(faces)
            rows["ours"] += match([f.landmarks for f in faces], refs)
            t = time.perf_counter()
            dfaces = dlib_ref.detect(img)
            totals["dlib"][1] += time.perf_counter() - t
            totals["dlib"][0] += len(dfaces)
            rows["dlib"] += match([lm for _, lm in dfaces], refs)
        result[name] = {"references": sum(len(r) for _, r in items), "ours": summary(rows["ours"]),
                        "dlib_hog_up1": summary(rows["dlib"]) if name == "annotated_pascal" else "is the reference"}
        if name == "in_the_wild":
            result[name]["images_with_a_face"] = {"images": len(items)}
    speed = {k: round(n / s, 2) for k, (n, s) in totals.items()}
    result["faces_per_second"] = {"ours": speed["ours"], "dlib_hog_up1_68": speed["dlib"],
                                  "ratio_ours_to_dlib": round(speed["ours"] / speed["dlib"], 2),
                                  "faces": {k: v[0] for k, v in totals.items()},
                                  "seconds": {k: round(v[1], 2) for k, v in totals.items()}}
    if not skip_video:
        from engine.faces.extract_faceset import extract_faces

        with tempfile.TemporaryDirectory() as tmp:
            rep = extract_faces(DATA / "video" / "dst_obama_speaking.mp4", Path(tmp) / "aligned")
        result["dst_video_extract"] = {"frames": rep.frames, "faces": rep.faces, "seconds": round(rep.seconds, 2),
                                       "fps": round(rep.fps, 2), "settings": "whole_face 512 px, jpeg 95, defaults"}
    result["load_average_at_end"] = os.getloadavg()
    return result


def rows_from(res: dict) -> list[Row]:
    """The bench interface's rows: speed and recall against dlib in the same run, NME against dlib's points."""
    f, pascal, wild = res["faces_per_second"], res["annotated_pascal"], res["in_the_wild"]
    rows = [Row("extract", "faces/s, detection + 68 landmarks", f["ours"], "faces/s", f["dlib_hog_up1_68"],
                "dlib HOG(up 1) + 68, same run", target=2.0, lower_is_better=False, extra=f),
            Row("extract", "annotated_pascal recall", pascal["ours"]["recall_ratio"], "", 0.9,
                "issue target 0.9", target=1.0, lower_is_better=False,
                note=f"{pascal['ours']['recall']} faces; dlib HOG(up 1) {pascal['dlib_hog_up1']['recall']}"),
            Row("extract", "in_the_wild recall of dlib's faces", wild["ours"]["recall_ratio"], "",
                lower_is_better=False, note=f"{wild['ours']['recall']} faces")]
    for name, r in (("annotated_pascal", pascal), ("in_the_wild", wild)):
        for part, limit in (("inner51", 5.0), ("jaw", 8.0)):
            for stat in ("mean", "median") if part in r["ours"] else ():
                rows.append(Row("extract", f"{name} {part} NME to dlib's points, {stat}", r["ours"][part][stat], "%",
                                limit, f"issue target {limit:g} %", target=1.0, note="agreement with dlib, not truth"))
    if "dst_video_extract" in res:
        v = res["dst_video_extract"]
        rows.append(Row("extract", "dst video extraction (whole_face 512 px)", v["fps"], "frames/s",
                        lower_is_better=False, note="no DFL counterpart (its extractor could not run)"))
    return rows


def run(smoke: bool) -> list[Row]:
    """bench/run_all.py entry: smoke = the first 2 images of each set, no video; else everything."""
    return rows_from(measure(skip_video=smoke, limit=2 if smoke else None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-video", action="store_true", help="skip the dst video extraction timing")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    res = measure(args.skip_video)
    if args.json:
        print(json.dumps(res))
        return
    print(f"CPU: {res['cpu']}; load average at start {res['load_average_at_start']} (others' jobs: contended)")
    for name in ("annotated_pascal", "in_the_wild"):
        r = res[name]
        for who in ("ours", "dlib_hog_up1"):
            s = r[who]
            if isinstance(s, str):
                continue
            parts = [f"recall {s['recall']}"] + [f"{k} NME mean {s[k]['mean']} / median {s[k]['median']} %"
                                                 for k in ("inner51", "jaw", "all68") if k in s]
            print(f"{name:17s} {who:13s} " + "; ".join(parts))
    f = res["faces_per_second"]
    print(f"faces/s: ours {f['ours']}, dlib HOG(up 1)+68 {f['dlib_hog_up1_68']} -> ratio {f['ratio_ours_to_dlib']}x "
          f"(faces {f['faces']}, seconds {f['seconds']})")
    if "dst_video_extract" in res:
        v = res["dst_video_extract"]
        print(f"dst video extraction: {v['frames']} frames, {v['faces']} faces in {v['seconds']} s "
              f"= {v['fps']} frames/s")


if __name__ == "__main__":
    main()
