"""Metric maths against numpy/scipy on generated features (identity feature extractor)."""

import numpy as np
import pytest
import scipy.linalg

from vaegan_tf.evaluation import metrics


def _gaussian(n, d, shift=0.0, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_frechet_distance_matches_scipy_formula():
    a, b = _gaussian(300, 6, seed=1), _gaussian(200, 6, shift=0.5, seed=2) * 1.3
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (np.sum((mu_a - mu_b) ** 2) + np.trace(sa + sb)
                - 2 * np.trace(np.real(scipy.linalg.sqrtm(sa @ sb))))
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_of_known_gaussians():
    # Two isotropic Gaussians: d² = ‖Δμ‖² + D(σ_a − σ_b)², up to sampling noise.
    a, b = _gaussian(20000, 3, seed=3), 2.0 * _gaussian(20000, 3, seed=4) + 1.0
    assert metrics.frechet_distance(a, b) == pytest.approx(3 * 1.0 + 3 * 1.0, rel=0.05)


def test_kid_matches_direct_formula():
    x, y = _gaussian(40, 5, seed=5), _gaussian(30, 5, shift=0.3, seed=6)
    k = lambda u, v: (u @ v / 5 + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    assert metrics.mmd2_unbiased(x, y) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-9)
    same = _gaussian(40, 5, shift=0.3, seed=7)
    assert metrics.kid(x, same, subsets=1, subset_size=40) == (
        pytest.approx(metrics.mmd2_unbiased(x, same)), 0.0)


def test_distances_near_zero_for_same_distribution_and_grow_with_shift():
    base = _gaussian(500, 8, seed=8)
    fd, kid = [], []
    for shift in (0.0, 0.5, 1.0, 2.0):
        other = _gaussian(500, 8, shift=shift, seed=9)
        fd.append(metrics.frechet_distance(base, other))
        kid.append(metrics.kid(base, other, subsets=5, subset_size=200)[0])
    assert fd[0] < 0.2 and abs(kid[0]) < 0.05 * kid[1]  # noise only, far below a 0.5 shift
    assert metrics.frechet_distance(base, base) == pytest.approx(0.0, abs=1e-6)
    assert all(a < b for a, b in zip(fd, fd[1:])) and all(a < b for a, b in zip(kid, kid[1:]))
    assert fd[-1] == pytest.approx(8 * 4.0, rel=0.15)  # ‖Δμ‖² = 8 · 2²


def test_sharpness_drops_with_blur():
    rng = np.random.default_rng(0)
    sharp = rng.uniform(-1, 1, (4, 16, 16, 3))
    blurred = (sharp + np.roll(sharp, 1, 1) + np.roll(sharp, 1, 2) + np.roll(sharp, (1, 1), (1, 2))) / 4
    assert metrics.sharpness_ratio(sharp, sharp) == pytest.approx(1.0)
    assert metrics.sharpness_ratio(blurred, sharp) < 0.5
    flat = np.zeros((2, 8, 8, 3))
    np.testing.assert_array_equal(metrics.laplacian_variance(flat), [0.0, 0.0])
    # A single bright pixel: the Laplacian is -4 there and +1 at its 4 neighbours.
    dot = np.zeros((1, 5, 5, 3)); dot[0, 2, 2] = 1.0
    lap = np.array([-4.0, 1, 1, 1, 1] + [0] * 4)
    assert metrics.laplacian_variance(dot)[0] == pytest.approx(lap.var())
