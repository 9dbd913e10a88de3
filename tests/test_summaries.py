"""The training summaries (vaegan_tf/training/summaries.py); the grids they write: test_train.py."""
import pytest
import tensorflow as tf

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
