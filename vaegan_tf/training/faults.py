"""Surviving faults: a divergence guard, and a clean stop on SIGTERM/SIGINT.

Non-finite steps are already refused inside train_step (model.py); this module decides what to do
about a run of them, and turns a termination signal into "finish the step, checkpoint, exit".
"""

from __future__ import annotations

import contextlib
import signal

import keras
import tensorflow as tf
from absl import logging

from vaegan_tf.errors import DivergenceError, Interrupted  # noqa: F401  (re-exported)
from vaegan_tf.training.step_clock import StepCallback


class DivergenceGuard(StepCallback):
    """Stops fit() once `patience` steps in a row were non-finite; `recover()` then rolls back.

    It looks at the model's on-device worst streak at every multiple of `patience` steps only,
    so the train step never waits on the host. Recovery restores the newest checkpoint (checkpoints are only
    written from finite, non-diverging states) and sets the learning rate to `backoff` times the
    rate in use when the run diverged: x0.5, then x0.25, ... of the original.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, patience: int,
                 backoff: float, max_recoveries: int):
        super().__init__()
        # Every worker of a cluster rolls back to the same checkpoint: the newest in the shared
        # workdir, which the chief wrote (a worker's own copies start only at its first save).
        self.checkpoint, self.directory, self.patience = checkpoint, directory, patience
        self.backoff, self.max_recoveries = backoff, max_recoveries
        self.recoveries, self.pending = 0, False

    def on_train_begin(self, logs=None):
        self.pending = False

    def on_train_batch_end(self, batch, logs=None):
        if self.step % self.patience:
            return
        if int(self.model.worst_streak.numpy()) >= self.patience:
            self.pending = True
            self.model.stop_training = True
        self.model.worst_streak.assign(self.model.bad_streak)

    def recover(self) -> int:
        """Restores the last good checkpoint with a lower learning rate; returns its step."""
        model, step = self.model, int(self.model.step.numpy())
        self.recoveries += 1
        if self.recoveries > self.max_recoveries:
            raise DivergenceError(
                f"training diverged (NaN/inf for {self.patience} steps in a row) at step {step} "
                f"even after {self.max_recoveries} rollbacks with the learning rate lowered "
                f"x{self.backoff} each time; check the data or lower --learning_rate")
        path = tf.train.latest_checkpoint(self.directory)
        if not path:
            raise DivergenceError(
                f"training diverged (NaN/inf for {self.patience} steps in a row) at step {step}, "
                "before the first checkpoint; lower --learning_rate")
        # The rate in use when the run diverged already holds every earlier back-off (of this
        # process or, through the checkpoint, of earlier ones); the restored one may not, as the
        # checkpoint can predate them. Each rollback lowers the former once more.
        lowered = float(model.lr_scale.numpy()) * self.backoff
        self.checkpoint.restore(path).assert_existing_objects_matched()
        model.lr_scale.assign(lowered)
        model.bad_streak.assign(0)
        model.worst_streak.assign(0)
        restored = int(model.step.numpy())
        logging.warning("Diverged at step %d: rolled back to %s (step %d), learning rate x%.3g",
                        step, path, restored, float(model.lr_scale.numpy()))
        self.pending = False
        return restored


class SignalStop(keras.callbacks.Callback):
    """On SIGTERM or SIGINT, ends fit() after the current step (the checkpoint callback then saves).

    With stops_fit=False it only records the signal, for a multi-worker run, where every worker
    must stop at the same step (cluster_faults.ClusterStop). A second signal of the same kind gets
    Python's default behaviour, so a stuck run can still be killed from the keyboard.
    """

    def __init__(self, stops_fit: bool = True):
        super().__init__()
        self.signum: int | None = None
        self.stops_fit = stops_fit

    def received(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame):
        self.signum = signum
        signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler)
        logging.warning("Received %s: stopping after this step", signal.Signals(signum).name)

    def on_train_batch_end(self, batch, logs=None):
        if self.signum is not None and self.stops_fit:
            self.model.stop_training = True

    @contextlib.contextmanager
    def installed(self):
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
