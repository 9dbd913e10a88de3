"""progress.py: the progress line's content and width."""

import io

import tensorflow as tf

from vaegan_tf.training import progress
from vaegan_tf.training.step_clock import StepClock


def test_durations():
    assert progress.format_duration(0) == "0:00"
    assert progress.format_duration(61.4) == "1:01"
    assert progress.format_duration(3 * 3600 + 5 * 60 + 9) == "3:05:09"


def test_the_first_four_shown_losses_a_model_has():
    vaegan = {"prior": 1, "llike": 2, "enc_loss": 95.123, "recon_mse": 0.08311, "dec_loss": 7.0354,
              "dis_loss": 0.3092, "d_real": 0.8, "d_prior": 0.1, "gan_dec": -1.2}
    assert progress.losses_text(vaegan) == "enc 95.12  dec 7.035  dis 0.3092  recon_mse 0.08311"
    gan = {"dec_loss": 1.5, "dis_loss": 0.5, "d_real": 0.75, "d_prior": 0.25, "nonfinite": 0}
    assert progress.losses_text(gan) == "dec 1.5  dis 0.5  d_real 0.75  d_prior 0.25"
    assert progress.losses_text({"val_dec_loss": 2.0, "dec_loss": 1.0}, "val_") == "dec 2"


def test_a_line_never_passes_100_columns():
    logs = {n: 123456.789e10 for n in progress.SHOWN}
    line = progress.progress_text(12345678, 99999999, 12345.6, 10 ** 7, logs)
    assert len(line) == progress.WIDTH and line.startswith("step 12345678/99999999  12345.6 img/s")


class _Model:
    def __init__(self, step):
        self.step = tf.Variable(step, dtype=tf.int64)
        self.steps_per_execution = 1


def _epoch(verbose, stream):
    line = progress.ProgressLine(total_steps=10, batch_size=4, verbose=verbose, stream=stream)
    clock = StepClock([line])  # as training drives it: the step comes from the clock
    clock.set_model(_Model(6))
    clock.on_train_begin()
    for b in range(2):
        clock.on_train_batch_end(b, {"dec_loss": 1.0})
    clock.on_epoch_end(3, {"dec_loss": 1.0, "dis_loss": 0.5, "val_dec_loss": 2.0})


def test_an_epoch_prints_the_global_step_and_its_validation():
    out = io.StringIO()
    _epoch(2, out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("step  8/10  ") and "eta 0:" in lines[0]
    assert lines[0].endswith("dec 1  dis 0.5")
    assert lines[1] == "  validation at step 8: dec 2"
    silent = io.StringIO()
    _epoch(0, silent)
    assert silent.getvalue() == ""
