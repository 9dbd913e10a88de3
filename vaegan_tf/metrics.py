"""Pure metric functions on numpy arrays: distribution distances, sharpness and kNN error.

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


def _as_features(x, name: str) -> np.ndarray:
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
    a, b = _as_features(a, "a"), _as_features(b, "b")
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
    x, y = _as_features(x, "x"), _as_features(y, "y")
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
    a, b = _as_features(a, "a"), _as_features(b, "b")
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


def knn_predict(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, k: int = 5,
                chunk: int = 256) -> np.ndarray:
    """k-nearest-neighbour labels: each test row gets the most common label among its k nearest
    training rows in Euclidean distance ‖x − x'‖² = ‖x‖² − 2xᵀx' + ‖x'‖². Ties between labels go to
    the label whose nearest member is closest. Labels are integers [N_train]; returns [N_test]."""
    train, test = _as_features(train, "train"), _as_features(test, "test")
    train_labels = np.asarray(train_labels).astype(np.int64)
    k = min(k, len(train))
    sq = (train ** 2).sum(1)
    out = np.empty(len(test), np.int64)
    for start in range(0, len(test), chunk):
        block = test[start:start + chunk]
        dist = sq[None, :] - 2.0 * block @ train.T  # + ‖test‖², constant per row
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
        for row, idx in enumerate(nearest):
            labels = train_labels[idx]  # ordered nearest first
            values, counts = np.unique(labels, return_counts=True)
            best = values[counts == counts.max()]
            out[start + row] = next(l for l in labels if l in best)
    return out


def knn_error(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray,
              test_labels: np.ndarray, k: int = 5) -> float:
    """Classification error of k-NN (the paper's Sec. 4 uses k = 5):
    mean over test rows of [knn_predict(test row) ≠ its label]."""
    predicted = knn_predict(train, train_labels, test, k)
    return float(np.mean(predicted != np.asarray(test_labels).astype(np.int64)))


def knn_attribute_errors(train: np.ndarray, train_attributes: np.ndarray, test: np.ndarray,
                         test_attributes: np.ndarray, k: int = 5) -> np.ndarray:
    """knn_error for each binary attribute column separately (labels 0/1): [A] errors.
    One neighbour search serves every attribute."""
    train, test = _as_features(train, "train"), _as_features(test, "test")
    k = min(k, len(train))
    sq = (train ** 2).sum(1)
    votes = np.empty((len(test), train_attributes.shape[1]))
    for start in range(0, len(test), 256):
        block = test[start:start + 256]
        nearest = np.argsort(sq[None, :] - 2.0 * block @ train.T, axis=1, kind="stable")[:, :k]
        votes[start:start + 256] = np.asarray(train_attributes)[nearest].mean(1)
    # With odd k a binary vote has no tie; with even k a tie is broken towards the nearest one.
    predicted = votes > 0.5
    if k % 2 == 0:
        tie = votes == 0.5
        if tie.any():
            nearest1 = np.asarray(nearest_attributes(train, train_attributes, test))
            predicted = np.where(tie, nearest1 > 0.5, predicted)
    return np.mean(predicted != (np.asarray(test_attributes) > 0.5), axis=0)


def nearest_attributes(train: np.ndarray, train_attributes: np.ndarray,
                            test: np.ndarray) -> np.ndarray:
    """The attributes of each test row's single nearest training row (1-NN): [N_test, A]."""
    sq = (train ** 2).sum(1)
    nearest = np.argmin(sq[None, :] - 2.0 * test @ train.T, axis=1)
    return np.asarray(train_attributes)[nearest]


def majority_error(train_attributes: np.ndarray, test_attributes: np.ndarray) -> np.ndarray:
    """The chance baseline per attribute: error of always predicting the training majority: [A]."""
    majority = np.asarray(train_attributes).mean(0) > 0.5
    return np.mean((np.asarray(test_attributes) > 0.5) != majority[None, :], axis=0)
