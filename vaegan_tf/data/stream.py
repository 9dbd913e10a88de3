"""The training stream's order as a pure function of (seed, position), so a run resumes in O(1).

Training reads global example positions p = 0, 1, 2, ...; step s's batch is positions
[s·B, (s+1)·B). Pass e = p // n over a split of n examples visits them in a keyed random
permutation of the pass (a Philox-based index shuffle keyed by (seed, e)), so position p reads
example shuffle_e(p mod n), and its flip and jitter use the stateless seed (seed + 1, p). A run
resumed at step s starts at position s·B and reads nothing before it: the time to its first step
does not grow with s, unlike skipping the s·B examples already trained.
"""

from __future__ import annotations

import tensorflow as tf

ORDER_SALT = 0x5EED  # the permutation's key differs from any augmentation seed


def positions(first_step: int, batch_size: int) -> tf.data.Dataset:
    """Endless int64 positions from step `first_step`'s first example on."""
    return tf.data.Dataset.counter(start=first_step * batch_size, dtype=tf.int64)


def example_index(position: tf.Tensor, n: int, seed: int, offset: int = 0) -> tf.Tensor:
    """shuffle_e((p + offset) mod n) for e = p // n: the example position p reads (offset > 0:
    the offset-th stand-in for it, further along the same pass, used when it is unreadable)."""
    position = tf.convert_to_tensor(position, tf.int64)  # a scalar or a vector of positions
    key = tf.stack([tf.fill(tf.shape(position), tf.constant(seed, tf.int64)), position // n,
                    tf.fill(tf.shape(position), tf.constant(ORDER_SALT, tf.int64))], axis=-1)
    return tf.raw_ops.RandomIndexShuffle(index=(position + offset) % n, seed=key,
                                         max_index=tf.constant(n - 1, tf.int64))


def augmentation_seed(position: tf.Tensor, seed: int) -> tf.Tensor:
    """The stateless seed [2] of position p's random flip and --augment jitter (p a scalar)."""
    return tf.stack([tf.constant(seed + 1, tf.int64), tf.cast(position, tf.int64)])
