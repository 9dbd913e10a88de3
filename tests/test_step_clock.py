"""The run's one step count (vaegan_tf/training/step_clock.py); a resumed run acting at the
configured steps end to end: test_train.py."""

import pytest
import tensorflow as tf

from vaegan_tf.training.step_clock import StepCallback, StepClock


class _Model:
    """What the clock reads of a VAEGAN: its step variable and --steps_per_execution."""

    def __init__(self, step: int, steps_per_execution: int):
        self.step = tf.Variable(step, dtype=tf.int64)
        self.steps_per_execution = steps_per_execution


class _Recorder(StepCallback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_begin(self, logs=None):
        self.seen.append(("begin", self.step))

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(("step", self.step))

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(("epoch", self.step))

    def on_train_end(self, logs=None):
        self.seen.append(("end", self.step))


def _drive(clock: StepClock, model: _Model, executions: list[int]) -> None:
    """A fit() of len(executions) calls that run that many steps each, then one epoch end."""
    clock.set_model(model)
    clock.on_train_begin()
    for batch, steps in enumerate(executions):
        model.step.assign_add(steps)  # the device's count, which the clock does not read per step
        clock.on_train_batch_end(batch, {})
    clock.on_epoch_end(0, {})
    clock.on_train_end()


def test_one_call_per_step_from_the_model_step_at_fit_begin():
    recorder = _Recorder()
    _drive(StepClock([recorder]), _Model(7, 1), [1, 1, 1])
    assert recorder.seen == [("begin", 7), ("step", 8), ("step", 9), ("step", 10), ("epoch", 10),
                             ("end", 10)]


def test_several_steps_per_execution_still_give_one_call_per_step():
    # The last execution ran 1 step of 3 (the run's end): the clock reads the model's step.
    recorder = _Recorder()
    _drive(StepClock([recorder]), _Model(3, 3), [3, 3, 1])
    assert [s for kind, s in recorder.seen if kind == "step"] == [4, 5, 6, 7, 8, 9, 10]


def test_a_clock_that_does_not_end_with_fit_ends_when_told():
    recorder = _Recorder()
    clock, model = StepClock([recorder], ends_with_fit=False), _Model(0, 1)
    _drive(clock, model, [1])
    model.step.assign(0)  # a rollback: the next fit() starts from the restored step
    _drive(clock, model, [1, 1])
    assert ("end", 1) not in recorder.seen and recorder.seen[-1] == ("epoch", 2)
    assert recorder.seen[:4] == [("begin", 0), ("step", 1), ("epoch", 1), ("begin", 0)]
    clock.end_training()
    assert recorder.seen[-1] == ("end", 2)


def test_other_callbacks_get_every_hook_but_no_step():
    seen = []

    class Plain(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    _drive(StepClock([Plain()]), _Model(0, 2), [2, 2])
    assert seen == [0, 0, 1, 1]  # once per step, with the execution's batch index


def test_a_step_callback_outside_a_clock_says_so():
    with pytest.raises(RuntimeError, match="_Recorder reads the step from a StepClock"):
        _Recorder().step
