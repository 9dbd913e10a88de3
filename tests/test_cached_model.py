"""cached_model.py: a network trained once, kept under its own name, reused only when its
description matches."""

import os

import keras
import numpy as np
import pytest

from vaegan_tf.errors import CheckpointError
from vaegan_tf.evaluation.cached_model import cached_model


def _net():
    net = keras.Sequential([keras.layers.Dense(2)])
    net.build((None, 3))
    return net


def test_trains_once_then_loads_the_same_weights_under_its_name(tmp_path):
    folder, trained = str(tmp_path / "cache"), []

    def train():
        net = _net()
        net.set_weights([np.full((3, 2), 7.0, np.float32), np.ones(2, np.float32)])
        trained.append(net)
        return net
    first, info = cached_model(folder, "scorer", "--scorer_dir", {"data": "x"}, _net(), train,
                               "scorer", describe=lambda net: {"accuracy": 0.5})
    assert info == {"data": "x", "accuracy": 0.5} and len(trained) == 1
    assert sorted(os.listdir(folder)) == ["scorer.json", "scorer.weights.h5"]
    again, info = cached_model(folder, "scorer", "--scorer_dir", {"data": "x"}, _net(), train,
                               "scorer")
    assert len(trained) == 1 and info["accuracy"] == 0.5
    np.testing.assert_array_equal(again.get_weights()[0], np.full((3, 2), 7.0))


def test_a_different_description_is_an_error_not_an_overwrite(tmp_path):
    folder = str(tmp_path)
    cached_model(folder, "scorer", "--scorer_dir", {"data": "x"}, _net(), _net, "scorer")
    before = os.path.getmtime(os.path.join(folder, "scorer.weights.h5"))
    with pytest.raises(CheckpointError, match=r"--scorer_dir=\S+ holds a cached scorer with "
                                              r"data='x', not 'y'"):
        cached_model(folder, "scorer", "--scorer_dir", {"data": "y"}, _net(), _net, "scorer")
    assert os.path.getmtime(os.path.join(folder, "scorer.weights.h5")) == before
    (tmp_path / "scorer.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="cannot read .*scorer.json"):
        cached_model(folder, "scorer", "--scorer_dir", {"data": "x"}, _net(), _net, "scorer")
