"""The run's one step count on the host, and the callbacks that read it.

The model's `step` variable (the optimiser steps taken, checkpointed) is the only count of
training. Reading it every step would make the host wait for the device, so `StepClock` mirrors
it: it reads it when fit() begins and, under --steps_per_execution, once per execution (the last
may run fewer steps), and moves on by one per step in between. Every training callback that acts
at some steps (summaries, checkpoints, exports, the progress line, the divergence guard) is a
`StepCallback` and reads `self.step` from the clock; none keeps a count of its own.

fit() runs in what Keras calls epochs; here they are log intervals of --log_every steps, and the
hooks on_epoch_begin/on_epoch_end mark their bounds. "Epoch" alone, in this package, means the
authors' epoch of --lr_epoch_steps batches, by which their learning-rate schedule moves.
"""

from __future__ import annotations

import keras


class StepCallback(keras.callbacks.Callback):
    """A training callback that reads the run's step from the StepClock driving it.

    In on_train_batch_end `self.step` is the model's step after the step that just ended, in the
    interval (on_epoch_*) and test hooks the step reached, and in on_train_begin the step fit() starts from.
    """

    clock: StepClock | None = None

    @property
    def step(self) -> int:
        if self.clock is None:
            raise RuntimeError(f"{type(self).__name__} reads the step from a StepClock: pass it "
                               "to fit() inside StepClock([...])")
        return self.clock.step


class StepClock(keras.callbacks.Callback):
    """Drives `callbacks` with one on_train_batch_end per training step, under any
    --steps_per_execution (Keras calls that hook once per execution of several steps), and gives
    the StepCallbacks among them the step. Every other hook is passed on.

    Logs are those of the execution's last step, which is what a step-by-step fit reports then.

    A run that trains in several fit() calls (train.py: after a resume between two log steps,
    or a divergence rollback) builds one clock with `ends_with_fit=False` and calls
    `end_training()` once, at the end of the last: the callbacks' on_train_end (the final
    checkpoint, export and grids) means the end of training, not of one fit().
    """

    def __init__(self, callbacks: list[keras.callbacks.Callback], ends_with_fit: bool = True):
        super().__init__()
        self.callbacks, self.step, self.ends_with_fit = callbacks, 0, ends_with_fit
        for c in callbacks:
            if isinstance(c, StepCallback):
                c.clock = self

    def set_model(self, model):
        super().set_model(model)
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for c in self.callbacks:
            c.set_params(params)

    def _each(self, hook: str, *args) -> None:
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def on_train_begin(self, logs=None):
        # Also after a divergence rollback, which moves the model's step back.
        self.step = int(self.model.step.numpy())
        self._each("on_train_begin", logs)

    def on_train_batch_end(self, batch, logs=None):
        reached = self.step + 1
        if self.model.steps_per_execution > 1:
            reached = int(self.model.step.numpy())
        while self.step < reached:
            self.step += 1
            self._each("on_train_batch_end", batch, logs)

    def on_train_end(self, logs=None):
        if self.ends_with_fit:
            self._each("on_train_end", logs)

    def end_training(self, logs=None) -> None:
        """on_train_end for every callback, where fit() does not give it (ends_with_fit=False)."""
        self._each("on_train_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each("on_train_batch_begin", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs=None):
        self._each("on_test_begin", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._each("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._each("on_test_batch_end", batch, logs)

    def on_test_end(self, logs=None):
        self._each("on_test_end", logs)
