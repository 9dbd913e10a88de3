"""A corrupt image in a training run: one DataError naming it and no trace in the workdir, or
with --skip_corrupt a finished run that counts it in TensorBoard."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from celeba_fixtures import write_layout
from conftest import tiny_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vaegan_tf.data import corrupt
from vaegan_tf.errors import DataError
from vaegan_tf.training.train import train_mode


@pytest.fixture
def damaged(tmp_path) -> str:
    root = str(tmp_path / "celeba")
    rng = np.random.default_rng(0)
    write_layout(root, rng.integers(0, 2, (40, 3)) * 2 - 1, [0] * 30 + [1] * 5 + [2] * 5,
                 colours=rng.integers(0, 256, (40, 3)))
    path = os.path.join(root, "img_align_celeba", "000004.jpg")
    with open(path, "rb") as f:
        contents = f.read()
    with open(path, "wb") as f:
        f.write(contents[:200])
    return root


def test_corrupt_image_stops_the_run_before_writing(tmp_path, damaged):
    workdir = str(tmp_path / "run")
    config = tiny_config(dataset="celeba", data_dir=damaged, cache="file")
    with pytest.raises(DataError, match=r"000004.jpg is a corrupt"):
        train_mode(config, workdir, verbose=0)
    assert not os.path.exists(os.path.join(workdir, "config.json"))
    assert os.listdir(os.path.join(workdir, "cache")) == []


@pytest.mark.slow  # a training run
def test_skip_corrupt_counts_in_tensorboard(tmp_path, damaged):
    workdir = str(tmp_path / "run")
    config = tiny_config(dataset="celeba", data_dir=damaged, skip_corrupt=True)
    train_mode(config, workdir, verbose=0)
    events = EventAccumulator(os.path.join(workdir, "tensorboard", "train")).Reload()
    values = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("data/skipped_corrupt")]
    assert values and values[-1] == 1.0


def test_other_errors_pass_through():
    assert corrupt.as_data_error(ValueError("unrelated")) is None
    with pytest.raises(tf.errors.InvalidArgumentError):
        with corrupt.raise_data_errors():
            raise tf.errors.InvalidArgumentError(None, None, "some other failure")
