"""The report's measures on arrays with known answers (SSIM against scikit-image's reference implementation)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.quality import metrics


def _image(seed: int = 0, size: int = 64) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (5, 5), 1.0)


def test_ssim_matches_scikit_image_and_psnr_is_exact():
    from skimage.metrics import structural_similarity

    a = _image(0)
    b = np.clip(a + np.random.default_rng(1).normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    ref = structural_similarity(a, b, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert metrics.ssim(a, b) == pytest.approx(ref, abs=0.02)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ssim(a, b) < 0.95
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(1 / mse), rel=1e-6)
    assert metrics.psnr(a, a) == 100.0


def test_masked_ssim_only_sees_the_mask():
    a = _image(2)
    b = a.copy()
    b[:, 32:] = 1.0 - b[:, 32:]  # right half ruined
    left = np.zeros(a.shape[:2], np.float32)
    left[:, :20] = 1.0
    assert metrics.ssim(a, b, left) > 0.99
    assert metrics.ssim(a, b) < 0.8
    assert metrics.psnr(a, b, left) == 100.0


def _face_points(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.random((68, 2)) * 100 + 50
    pts[36], pts[45] = (70, 90), (130, 90)
    return pts


def test_shape_distance_ignores_similarity_transforms_and_sees_expression():
    lm = _face_points()
    angle = np.radians(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = lm @ rot.T * 1.7 + [30, -12]
    assert metrics.shape_distance(moved, lm) < 1e-6
    opened = lm.copy()
    opened[48:68, 1] += np.linspace(0, 12, 20)  # mouth moves
    assert metrics.shape_distance(opened, lm) > 1.0
    assert metrics.shape_distance(opened, lm, metrics.MOUTH) > metrics.shape_distance(opened, lm)


def test_pose_error_jitter_and_still_pairs():
    assert metrics.pose_error(np.array([[3.0, 4.0, 0.0]]), np.zeros((1, 3)))[0] == pytest.approx(5.0)
    base = _face_points()
    numbers = list(range(1, 11))
    linear = np.stack([base + [2.0 * t, 0.0] for t in range(10)])  # steady pan: no jitter
    assert metrics.landmark_jitter(numbers, linear) == pytest.approx(0.0, abs=1e-9)
    shaky = linear + np.array([[(-1) ** t * 0.5, 0.0] for t in range(10)])[:, None, :]
    assert metrics.landmark_jitter(numbers, shaky) == pytest.approx(2.0, rel=1e-6)  # |+0.5 - 2(-0.5) + 0.5|
    assert metrics.landmark_jitter([1, 2, 5, 6], linear[:4]) is None  # no run of 3 consecutive frames
    still = np.stack([base] * 4 + [base + [40.0, 0.0]] * 2)
    assert metrics.still_pairs([1, 2, 3, 4, 5, 6], still) == [0, 1, 2, 4]
    assert metrics.still_pairs([1, 2, 4, 5, 6, 7], still) == [0, 2, 4]  # 2->4 is not consecutive


def test_cosine_and_mean_vector():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.cosine(a, np.array([1.0, 1.0])) == pytest.approx([2**-0.5, 2**-0.5])
    assert metrics.cosine(a, a) == pytest.approx([1.0, 1.0])
    assert np.linalg.norm(metrics.mean_vector(a)) == pytest.approx(1.0)
