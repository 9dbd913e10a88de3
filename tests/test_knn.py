"""k-NN (vaegan_tf/evaluation/knn.py) against brute-force counts."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from vaegan_tf.evaluation import knn


@pytest.mark.parametrize("chunk", [1, 7, 256])
def test_nearest_matches_a_brute_force_sort_in_any_chunking(chunk):
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(60, 5)), rng.normal(size=(23, 5))
    expected = np.argsort(cdist(test, train, "sqeuclidean"), axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(knn.nearest(train, test, k=4, chunk=chunk), expected)


def test_nearest_keeps_k_at_most_the_training_size_and_rejects_non_features():
    assert knn.nearest(np.zeros((3, 2)), np.zeros((5, 2)), k=10).shape == (5, 3)
    with pytest.raises(ValueError, match="expected features"):
        knn.nearest(np.zeros((3, 2, 1)), np.zeros((5, 2)), k=1)


def test_attribute_errors_break_an_even_vote_towards_the_nearest_neighbour():
    train = np.array([[0.0], [1.0], [5.0], [6.0]])
    attrs = np.array([[1.0], [0.0], [1.0], [0.0]])
    # k=2 from 0.1: neighbours 0 (attr 1) and 1 (attr 0) tie; the nearest says 1.
    assert knn.knn_attribute_errors(train, attrs, np.array([[0.1]]), np.array([[1.0]]), k=2)[0] == 0
    # From 0.9 the nearest is row 1 (attr 0).
    assert knn.knn_attribute_errors(train, attrs, np.array([[0.9]]), np.array([[1.0]]), k=2)[0] == 1


def test_knn_on_planted_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = rng.integers(0, 3, 300)
    points = centres[labels] + rng.normal(0, 0.5, (300, 2))
    assert knn.knn_error(points[:200], labels[:200], points[200:], labels[200:]) == 0.0
    # Labels unrelated to the features: error near chance (2/3).
    noise = rng.integers(0, 3, 300)
    assert knn.knn_error(points[:200], noise[:200], points[200:], noise[200:]) > 0.45


def test_knn_vote_and_tie_break():
    train = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    # k=5 over all: labels 0,0,1,1,1 -> 1 wins on votes.
    assert knn.knn_predict(train, [0, 0, 1, 1, 1], np.array([[0.0]]), k=5)[0] == 1
    # k=4 tie 2-2: the label of the nearest neighbour wins.
    assert knn.knn_predict(train, [0, 1, 1, 0, 2], np.array([[0.1]]), k=4)[0] == 0


def test_knn_attribute_errors_per_column():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 2))
    attrs = np.stack([x[:, 0] > 0, rng.integers(0, 2, 200) > 0], 1).astype(np.float32)
    err = knn.knn_attribute_errors(x[:150], attrs[:150], x[150:], attrs[150:])
    assert err[0] < 0.1 and err[1] > 0.3  # the planted attribute is found, the noise is not
    chance = knn.majority_error(attrs[:150], attrs[150:])
    assert chance.shape == (2,) and 0.2 < chance[0] < 0.8
