"""The layers the networks (and evaluation's attribute classifier) are built from: 5x5 convs, FC
and BatchNorm with the authors' settings (batch_norm, conv, dense, kernel_initializer), and
BatchNorm itself: Keras's BatchNormalization computed with TensorFlow's fused kernel in training.

Keras 3's BatchNormalization (TF backend) builds training-mode BN from separate ops: moments,
then tf.nn.batch_normalization, each differentiated op by op. That is a dozen passes over every
activation tensor forward and backward, and under a mixed policy they all run in float32. On two
CPU cores those memory-bound passes cost about as much as the convolutions around them.
FusedBatchNormV3 does the same arithmetic in one pass forward and one backward (FusedBatchNormGradV3),
in the activations' own dtype. The layer keeps Keras's variables, names, checkpoints and
inference path; only training-mode calls change, and they compute the same function:

    y = γ (x − μ_B) / √(σ²_B + ε) + β,  μ_B, σ²_B the batch mean and (biased) variance
    moving ← momentum · moving + (1 − momentum) · batch statistic

The fused kernel reports the Bessel-corrected variance; it is turned back into the biased one
Keras uses for the moving average, so both layers hold the same moving statistics.
Synchronized BN (--sync_batchnorm) on several replicas all-reduces the statistics in two passes,
the global mean first and then Σ(x − mean)²: Keras's version takes E[x²] − E[x]², which cancels
catastrophically in float32 for a channel whose variance is small against its mean, and with
ε = 1e-6 that error reaches the gradients (1% of an update in tests/test_distribute.py). With one
replica the global statistics are the local ones, and the fused kernel runs.
Masks, renorm and non-channels-last axes keep Keras's path.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="vaegan_tf")
class BatchNorm(keras.layers.BatchNormalization):
    """BatchNormalization over the last axis; the fused kernel in training mode."""

    def call(self, inputs, training=None, mask=None, update_statistics=True):
        """update_statistics=False (training mode only): batch statistics, moving ones untouched."""
        rank = len(inputs.shape)
        if (not (training and self.trainable) or mask is not None
                or self.renorm or self.axis not in (-1, rank - 1) or rank not in (2, 4)):
            if training and self.trainable and not update_statistics:
                raise ValueError("update_statistics=False needs the fused path (rank 2 or 4, "
                                 "last axis, no mask or renorm)")
            return super().call(inputs, training=training, mask=mask)
        replicas = tf.distribute.get_replica_context()
        if self.synchronized and replicas is not None and replicas.num_replicas_in_sync > 1:
            return self._synchronized(inputs, replicas, update_statistics)
        x = tf.cast(inputs, self.compute_dtype)
        x4 = x if rank == 4 else x[:, None, None, :]  # [B, C] as [B, 1, 1, C]: same statistics
        gamma = self.gamma if self.scale else tf.ones_like(self.moving_mean)
        beta = self.beta if self.center else tf.zeros_like(self.moving_mean)
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x4, scale=tf.cast(gamma, tf.float32), offset=tf.cast(beta, tf.float32),
            mean=tf.zeros_like(self.moving_mean), variance=tf.ones_like(self.moving_variance),
            epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        count = tf.cast(tf.reduce_prod(tf.shape(x4)[:3]), tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 2.0)
        if update_statistics:
            self._update_moving(mean, variance)
        return y if rank == 4 else y[:, 0, 0, :]

    def _synchronized(self, inputs, replicas, update_statistics=True):
        """Training-mode BN with statistics over every replica's batch, in two passes."""
        x = tf.cast(inputs, tf.float32)
        axes = list(range(len(x.shape) - 1))
        total, count = replicas.all_reduce(tf.distribute.ReduceOp.SUM, [
            tf.reduce_sum(x, axes), tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)])
        mean = total / count
        variance = replicas.all_reduce(tf.distribute.ReduceOp.SUM,
                                       tf.reduce_sum(tf.square(x - mean), axes)) / count
        y = tf.nn.batch_normalization(x, mean, variance, self.beta if self.center else None,
                                      self.gamma if self.scale else None, self.epsilon)
        if update_statistics:
            self._update_moving(mean, variance)
        return tf.cast(y, self.compute_dtype)

    def _update_moving(self, mean, variance):
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + tf.stop_gradient(mean) * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + tf.stop_gradient(variance) * (1.0 - m))


KERNEL = 5
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-6


def batch_norm(name: str, sync: bool = False) -> layers.BatchNormalization:
    # sync (--sync_batchnorm): under a tf.distribute strategy the batch statistics are all-reduced
    # over the global batch, so N replicas normalise exactly as one device would.
    return BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name, synchronized=sync)


def kernel_initializer(init: str) -> keras.initializers.Initializer | str:
    """Weights of every conv, convT and FC layer (--init).

    deeppy: the authors' AutoFiller, U(±1/√(3·fan_in)) = VarianceScaling(1/9, fan_in, uniform)
    (deeppy/filler.py; for a transposed conv deeppy's and Keras's fan_in are both k²·filters).
    glorot: Keras's default, 2-4x larger on the convolutions (smaller on Dec's wide first FC).
    """
    if init == "deeppy":
        return keras.initializers.VarianceScaling(scale=1 / 9, mode="fan_in", distribution="uniform")
    if init == "glorot":
        return "glorot_uniform"
    raise ValueError(f"unknown init {init!r}; expected deeppy or glorot")


def conv(filters: int, stride: int, name: str, init: str, bias: bool = False) -> layers.Conv2D:
    return layers.Conv2D(filters, KERNEL, strides=stride, padding="same", use_bias=bias, name=name,
                         kernel_initializer=kernel_initializer(init))


def dense(units: int, name: str, init: str, bias: bool = False) -> layers.Dense:
    return layers.Dense(units, use_bias=bias, name=name, kernel_initializer=kernel_initializer(init))
