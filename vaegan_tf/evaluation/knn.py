"""k-nearest-neighbour classification (the paper's Sec. 4 uses k = 5), on numpy arrays.

One neighbour search (`nearest`) serves every classifier below; each is tested against a brute
force count in tests/test_knn.py.
"""

from __future__ import annotations

import numpy as np

from vaegan_tf.evaluation.metrics import as_features


def nearest(train: np.ndarray, test: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Indices [N_test, k] of each test row's k nearest training rows in Euclidean distance
    ‖x − x'‖² = ‖x‖² − 2xᵀx' + ‖x'‖², nearest first; equal distances keep the training order.
    Computed `chunk` test rows at a time, so memory stays at chunk × N_train."""
    train, test = as_features(train, "train"), as_features(test, "test")
    k = min(k, len(train))
    sq = (train ** 2).sum(1)
    out = np.empty((len(test), k), np.int64)
    for start in range(0, len(test), chunk):
        dist = sq[None, :] - 2.0 * test[start:start + chunk] @ train.T  # + ‖test‖², per row
        out[start:start + chunk] = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return out


def knn_predict(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray,
                k: int = 5) -> np.ndarray:
    """Each test row's most common label among its k nearest training rows. Ties between labels
    go to the label whose nearest member is closest. Labels are integers [N_train]; returns
    [N_test]."""
    train_labels = np.asarray(train_labels).astype(np.int64)
    out = np.empty(len(test), np.int64)
    for row, idx in enumerate(nearest(train, test, k)):
        labels = train_labels[idx]  # ordered nearest first
        values, counts = np.unique(labels, return_counts=True)
        best = values[counts == counts.max()]
        out[row] = next(label for label in labels if label in best)
    return out


def knn_error(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray,
              test_labels: np.ndarray, k: int = 5) -> float:
    """Classification error of k-NN: mean over test rows of [knn_predict(test row) ≠ its label]."""
    predicted = knn_predict(train, train_labels, test, k)
    return float(np.mean(predicted != np.asarray(test_labels).astype(np.int64)))


def knn_attribute_errors(train: np.ndarray, train_attributes: np.ndarray, test: np.ndarray,
                         test_attributes: np.ndarray, k: int = 5) -> np.ndarray:
    """knn_error for each binary attribute column separately (labels 0/1): [A] errors.
    One neighbour search serves every attribute."""
    neighbours = nearest(train, test, k)
    train_attributes = np.asarray(train_attributes)
    votes = train_attributes[neighbours].mean(1)
    # With odd k a binary vote has no tie; with even k a tie goes to the nearest neighbour.
    predicted = np.where(votes == 0.5, train_attributes[neighbours[:, 0]] > 0.5, votes > 0.5)
    return np.mean(predicted != (np.asarray(test_attributes) > 0.5), axis=0)


def majority_error(train_attributes: np.ndarray, test_attributes: np.ndarray) -> np.ndarray:
    """The chance baseline per attribute: error of always predicting the training majority: [A]."""
    majority = np.asarray(train_attributes).mean(0) > 0.5
    return np.mean((np.asarray(test_attributes) > 0.5) != majority[None, :], axis=0)
