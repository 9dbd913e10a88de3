"""Pure metric functions on numpy arrays: distribution distances and sharpness (kNN: knn.py).

Each function states its formula; none knows about models or files, so each is tested against
numpy/scipy directly (TF-GAN style: identity feature extractor). Features are [N, D] arrays.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

# 3x3 Laplacian, the discrete ∇² = ∂²/∂x² + ∂²/∂y² (as in OpenCV's Laplacian with ksize=1).
LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
# ITU-R BT.601 luma weights, to measure sharpness on one grey channel.
LUMA = np.array([0.299, 0.587, 0.114])


def as_features(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected features [N, D], got shape {x.shape}")
    return x


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):

        d² = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})

    with μ, Σ the sample mean and (N−1)-normalised covariance. (Σ_a Σ_b)^{1/2} is scipy's sqrtm;
    its tiny imaginary part from round-off is dropped, and a singular product gets ε·I added to
    both covariances first, as in the reference FID code. In Inception features this is FID; in
    any other feature space it is only "a Fréchet distance" and must be named so.
    """
    a, b = as_features(a, "a"), as_features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 examples per set for a covariance")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(cov_a))
        covmean = scipy.linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (xᵀy / d + 1)³, the kernel of KID (Bińkowski et al. 2018), d = feature size."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimator of MMD² with the polynomial kernel k (Bińkowski et al. 2018, Eq. 3):

        MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j)
                 − 2/(mn) Σ_{i,j} k(x_i, y_j)

    It can be slightly negative when the two sets come from the same distribution.
    """
    x, y = as_features(x, "x"), as_features(y, "y")
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("need at least 2 examples per set")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 10, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel distance (KID): mean and standard deviation of `mmd2_unbiased` over `subsets` random
    subsets of min(subset_size, N_a, N_b) examples drawn without replacement from each set.
    When a subset would cover both sets whole it is exactly mmd2_unbiased(a, b), std 0."""
    a, b = as_features(a, "a"), as_features(b, "b")
    size = min(subset_size, len(a), len(b))
    if size == len(a) == len(b):  # every subset would be the whole of both sets
        return mmd2_unbiased(a, b), 0.0
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                            b[rng.choice(len(b), size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Sharpness of each image: Var_{pixels}(∇² g), g = luma of the image [N, H, W, 3] (any range;
    ratios between image sets do not depend on it), ∇² the 3x3 Laplacian over interior pixels.
    Blurry images have little high-frequency energy, hence a small variance. Returns [N]."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images [N, H, W, 3], got shape {images.shape}")
    g = images @ LUMA
    lap = (g[:, :-2, 1:-1] + g[:, 2:, 1:-1] + g[:, 1:-1, :-2] + g[:, 1:-1, 2:]
           - 4.0 * g[:, 1:-1, 1:-1])
    return lap.reshape(len(lap), -1).var(axis=1)


def sharpness_ratio(images: np.ndarray, reference: np.ndarray) -> float:
    """mean laplacian_variance(images) / mean laplacian_variance(reference): 1 is as sharp as the
    reference (real images), below 1 blurrier, above 1 noisier or over-sharpened."""
    ref = laplacian_variance(reference).mean()
    return float(laplacian_variance(images).mean() / max(ref, 1e-12))
