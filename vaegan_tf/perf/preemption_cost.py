"""What the multi-worker preemption check (cluster_faults.ClusterStop) costs a training step.

The check runs on the host once per step: PreemptionCheckpointHandler looks at two thread events
and a counter. Its other work (watching the coordination service for a peer's notice) waits in a
thread of its own and costs a step nothing. So the per-step cost is measured in one process, with
the handler in its local mode, which runs the same per-step code as under a cluster:

- check_s_per_step: the seconds spent inside the check per step, timed around each call;
- check_fraction_of_step: that over the step's own seconds (the target is under 0.02);
- train_with_check_vs_without: training seconds per step with the check over without it, timed
  in alternating fits (noisier: it carries the machine's drift, a few percent either way).
"""

from __future__ import annotations

import time

import keras
import tensorflow as tf

from vaegan_tf.config import Config
from vaegan_tf.perf import timing
from vaegan_tf.training.cluster_faults import ClusterStop
from vaegan_tf.training.step_clock import StepClock


class _TimedCheck(ClusterStop):
    """ClusterStop that adds up the seconds its per-step check takes."""

    seconds = 0.0
    calls = 0

    def on_train_batch_end(self, batch, logs=None):
        start = time.perf_counter()
        super().on_train_batch_end(batch, logs)
        self.seconds += time.perf_counter() - start
        self.calls += 1


class _Window(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def preemption_check_cost(config: Config, steps: int = 20, rounds: int = 2) -> dict[str, float]:
    """The check's seconds per step and its share of a training step (see the module's doc)."""
    from vaegan_tf.model.vaegan import VAEGAN

    batches = timing.random_batches(config, 4)
    dataset = tf.data.Dataset.from_tensor_slices(
        tuple(tf.stack(parts) for parts in zip(*batches))).repeat()
    keras.utils.set_random_seed(config.seed)
    model = VAEGAN(config)
    model.compile()
    check = _TimedCheck(None, lambda: False, lambda: None)
    try:
        model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)  # trace, warm up
        with_check, without = [], []
        for _ in range(rounds):  # alternating, so drift in the machine's speed hits both alike
            for callbacks, seconds in (([check], with_check), ([], without)):
                window = _Window()
                model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0,
                          callbacks=[StepClock(callbacks), window])
                seconds.append(window.seconds / steps)
    finally:
        check.close()
    per_check = check.seconds / check.calls  # calls: steps x rounds, one per training step
    step = min(without)
    return {"preemption_check_s_per_step": per_check,
            "preemption_check_fraction_of_step": per_check / step,
            "train_with_preemption_check_vs_without": min(with_check) / step}
