"""The optimizers and learning-rate schedules of a run (--lr_schedule, --rmsprop_epsilon_at).

The authors trained with deeppy's RMSProp and GammaAnnealer (deeppy/train/learn_rules.py,
annealers.py); Keras's RMSprop differs in where ε goes, which matters for a network whose
gradients are tiny (Dec's γ-weighted reconstruction term): ε inside the square root puts a floor
of √ε ≈ 3e-4 under the denominator, ε after it one of 1e-8.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from vaegan_tf.config import Config


def gamma_annealed_rate(step, start: float, end: float, total_steps: int, power: float,
                        epoch_steps: int):
    """lr(t) = a − (e / E)^p · (a − b), e = ⌊t / epoch⌋ the epoch, E = T / epoch the epochs.

    deeppy's GammaAnnealer as the authors used it: the rate is set once per epoch of 250 batches
    from a = lr_start to b = lr_stop over T steps, with p = 0.75. Past T it stays at b.
    """
    step = tf.cast(step, tf.float32)
    epochs = max(total_steps / epoch_steps, 1.0)
    t = tf.minimum(tf.floor(step / epoch_steps) / epochs, 1.0)
    # b + (1 − t^p)(a − b) rather than a − t^p (a − b): exactly b at t = 1 in float32.
    return end + (1.0 - tf.pow(t, power)) * (start - end)


@keras.saving.register_keras_serializable(package="vaegan_tf")
class GammaAnnealer(keras.optimizers.schedules.LearningRateSchedule):
    """The authors' per-epoch learning-rate schedule (gamma_annealed_rate)."""

    def __init__(self, start: float, end: float, total_steps: int, power: float = 0.75,
                 epoch_steps: int = 250):
        self.start, self.end, self.total_steps = start, end, total_steps
        self.power, self.epoch_steps = power, epoch_steps

    def __call__(self, step):
        return gamma_annealed_rate(step, self.start, self.end, self.total_steps, self.power,
                                   self.epoch_steps)

    def get_config(self):
        return {"start": self.start, "end": self.end, "total_steps": self.total_steps,
                "power": self.power, "epoch_steps": self.epoch_steps}


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The configured rate times a variable factor the divergence guard can lower.

    clock: when given, the schedule reads this step counter instead of the optimizer's own
    iterations. The equilibrium gate skips Dec's and Dis's updates, so their optimizers count
    fewer steps than the run has taken; the authors' annealer follows the run (its epochs).
    """

    def __init__(self, base: Any, scale: tf.Variable, clock: tf.Variable | None = None):
        self.base, self.scale, self.clock = base, scale, clock

    def __call__(self, step):
        step = step if self.clock is None else self.clock
        base = self.base(step) if callable(self.base) else self.base
        return self.scale * tf.cast(base, self.scale.dtype)

    def get_config(self):
        return {"base": self.base, "scale": float(self.scale.numpy())}


@keras.saving.register_keras_serializable(package="vaegan_tf")
class RMSpropAfterSqrt(keras.optimizers.RMSprop):
    """RMSProp as deeppy computes it: v ← ρv + (1 − ρ)g², w ← w − lr · g / (√v + ε).

    Keras's RMSprop divides by √(v + ε) instead. No momentum, not centred (as the authors').
    """

    def update_step(self, gradient, variable, learning_rate):
        lr = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(velocity, self.rho * velocity + (1 - self.rho) * tf.square(gradient))
        self.assign_sub(variable, lr * gradient / (tf.sqrt(velocity) + self.epsilon))


def learning_rate(config: Config) -> Any:
    """The base learning rate or schedule of --lr_schedule (before the divergence guard's factor)."""
    if config.lr_schedule == "gamma":
        return GammaAnnealer(config.learning_rate, config.lr_end, config.train_steps,
                             config.lr_power, config.lr_epoch_steps)
    if config.lr_schedule == "polynomial":
        return keras.optimizers.schedules.PolynomialDecay(config.learning_rate, config.train_steps,
                                                          end_learning_rate=0.0)
    return config.learning_rate


def default_optimizer(config: Config, lr_scale: tf.Variable,
                      clock: tf.Variable | None = None) -> keras.optimizers.Optimizer:
    """RMSProp for one network, on the run's schedule (read from `clock` when given)."""
    after_sqrt = config.rmsprop_epsilon_at == "after_sqrt"
    cls = RMSpropAfterSqrt if after_sqrt else keras.optimizers.RMSprop
    return cls(learning_rate=ScaledSchedule(learning_rate(config), lr_scale, clock),
               rho=config.rmsprop_rho, epsilon=config.rmsprop_epsilon,
               weight_decay=config.weight_decay or None)
