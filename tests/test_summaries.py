"""The training summaries (vaegan_tf/training/summaries.py); the grids they write: test_train.py."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config

from vaegan_tf.training import summaries
from vaegan_tf.training.step_clock import StepClock


class _Model:
    def __init__(self, step):
        self.step = tf.Variable(step, dtype=tf.int64)
        self.steps_per_execution = 1


def test_throughput_reports_images_per_second_since_the_epoch_began(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(summaries.time, "perf_counter", lambda: now[0])
    t = summaries.Throughput(batch_size=10)
    clock = StepClock([t])
    clock.set_model(_Model(5))
    clock.on_train_begin()
    clock.on_epoch_begin(0)
    logs = {}
    for i in range(3):
        now[0] += 0.5
        clock.on_train_batch_end(i, logs)
    assert logs["img/s"] == pytest.approx(3 * 10 / 1.5)
    epoch_logs = {"loss": 1.0}
    clock.on_epoch_end(0, epoch_logs)
    assert epoch_logs["img/s"] == t.rate


def test_grid_inputs_are_fixed_per_seed_and_fit_each_model():
    images = np.random.default_rng(1).uniform(-1, 1, (50, 8, 8, 3)).astype(np.float32)
    ys = np.eye(3, dtype=np.float32)[np.arange(50) % 3]
    validation = tf.data.Dataset.from_tensor_slices((images, ys)).batch(16)
    config = tiny_config(latent_dim=5, batch_size=16)
    z, x, y, x_y = summaries.grid_inputs(config, validation)
    assert z.shape == (summaries.SAMPLE_GRID, 5) and y is None and x_y is None
    np.testing.assert_array_equal(x, images[:summaries.RECON_GRID])
    np.testing.assert_array_equal(z, summaries.grid_inputs(config, validation)[0])
    assert not np.array_equal(z, summaries.grid_inputs(config.replace(seed=1), validation)[0])
    assert summaries.grid_inputs(config.replace(model="gan"), validation)[1] is None
    # Conditional: 50 validation vectors cycled to the 64 samples, the first 32 for the images.
    _, _, y, x_y = summaries.grid_inputs(config.replace(conditional=True, num_attributes=3),
                                         validation)
    np.testing.assert_array_equal(y, np.resize(ys, (64, 3)))
    np.testing.assert_array_equal(x_y, ys[:32])
