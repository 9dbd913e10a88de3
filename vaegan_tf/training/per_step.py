"""Training's callbacks under --steps_per_execution: one on_train_batch_end per step, still."""

from __future__ import annotations

import keras


class PerStep(keras.callbacks.Callback):
    """Callbacks written for one on_train_batch_end per training step, under any
    --steps_per_execution: Keras calls that hook once per execution of several steps; this
    calls it once for each step the execution ran (how many: the model's step counter, read
    once per execution, since the last one may run fewer). Every other hook is passed on.

    Their host-side step counts (checkpoints, exports, TensorBoard's steps, the divergence
    guard's every-`patience`-steps look) stay exact; logs are those of the execution's last
    step, which is what a step-by-step fit reports at that step.
    """

    def __init__(self, callbacks: list[keras.callbacks.Callback]):
        super().__init__()
        self.callbacks, self.seen = callbacks, 0

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
        self.seen = int(self.model.step.numpy())
        self._each("on_train_begin", logs)

    def on_train_batch_end(self, batch, logs=None):
        executed = 1
        if self.model.steps_per_execution > 1:
            step = int(self.model.step.numpy())
            executed, self.seen = step - self.seen, step
        for _ in range(executed):
            self._each("on_train_batch_end", batch, logs)

    def on_train_end(self, logs=None):
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
