"""What a train step needs to behave the same on one device and on N tf.distribute replicas.

Every function here is the identity (or the plain operation) outside a multi-replica context, so
the model has one code path. Inside one, each replica holds 1/N of the global batch and:
  - draws its slice of the noise the whole global batch would have drawn on one device;
  - takes decisions (skip a non-finite step, the equilibrium gate) from all-reduced values, so
    every replica takes the same branch and no collective is left waiting;
  - applies gradients from a cross-replica context: Keras's optimizers all-reduce inside
    apply_gradients with a merge_call, which a tf.cond in replica context must not contain.
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf


def _context():
    """The replica context when more than one replica runs in sync, else None."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def num_replicas() -> int:
    ctx = tf.distribute.get_replica_context()
    if ctx is None:  # cross-replica context: the strategy's count
        return tf.distribute.get_strategy().num_replicas_in_sync
    return ctx.num_replicas_in_sync


def normal(shape, seed: keras.random.SeedGenerator) -> tf.Tensor:
    """N(0, I) noise of `shape` ([local batch, ...]); on N replicas, this replica's slice of the
    [N·batch, ...] draw one device would make, so results do not depend on the replica count."""
    ctx = _context()
    if ctx is None:
        return keras.random.normal(shape, seed=seed)
    shape = tf.convert_to_tensor(shape)
    full = keras.random.normal(tf.concat([shape[:1] * ctx.num_replicas_in_sync, shape[1:]], 0),
                               seed=seed)
    start = tf.cast(ctx.replica_id_in_sync_group, shape.dtype) * shape[0]
    return full[start:start + shape[0]]


def mean(value: tf.Tensor) -> tf.Tensor:
    """The mean of a scalar over replicas (each replica's value is a mean over an equal share)."""
    ctx = _context()
    return value if ctx is None else ctx.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def all_true(flag: tf.Tensor) -> tf.Tensor:
    """True on every replica when `flag` is true on every replica."""
    ctx = _context()
    if ctx is None:
        return flag
    bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(flag, tf.float32))
    return tf.equal(bad, 0.0)


def apply_where(conditions: dict[str, tf.Tensor], grads: dict[str, list],
                apply: Callable[[str, list], None]) -> None:
    """apply(name, grads[name]) where conditions[name] holds (the same value on every replica).

    Under a merge-call strategy the tf.cond runs in cross-replica context and each replica
    applies its own gradients: they travel through merge_call's arguments, which regroups them
    per replica (a closure would hand every replica the first replica's tensors).
    """
    def skip():
        return tf.constant(False)

    if (not tf.distribute.has_strategy()
            or tf.__internal__.distribute.strategy_supports_no_merge_call()):
        for name, cond in conditions.items():
            tf.cond(cond, lambda n=name: _run(apply, n, grads[n]), skip)
        return

    def cross_replica(strategy, conditions, grads):
        for name, cond in conditions.items():
            cond = strategy.experimental_local_results(cond)[0]
            tf.cond(cond, lambda n=name: _for_each_replica(strategy, apply, n, grads[n]), skip)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(conditions, grads))


def _run(apply, name, grads):
    apply(name, grads)
    return tf.constant(True)


def _for_each_replica(strategy, apply, name, grads):
    strategy.extended.call_for_each_replica(lambda g: apply(name, g), args=(grads,))
    return tf.constant(True)
