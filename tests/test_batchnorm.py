"""The fused-kernel BatchNorm computes what Keras's BatchNormalization computes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vaegan_tf.model.layers import BatchNorm


def _run(layer, x, training):
    layer.build(x.shape)
    layer.gamma.assign(tf.random.stateless_normal(layer.gamma.shape, [1, 2]))
    layer.beta.assign(tf.random.stateless_normal(layer.beta.shape, [3, 4]))
    weights = tf.cast(tf.reshape(tf.range(tf.size(x)) % 7, x.shape), tf.float32) - 3.0
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [np.asarray(tf.cast(t, tf.float32)) for t in
            [y, *grads, layer.moving_mean, layer.moving_variance]]


@pytest.mark.parametrize("shape", [(16, 8, 8, 5), (16, 7), (1, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_matches_keras_batchnorm(shape, training):
    x = tf.constant(np.random.default_rng(0).normal(2, 3, shape), tf.float32)
    ref = _run(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-6), x, training)
    out = _run(BatchNorm(momentum=0.9, epsilon=1e-6), x, training)
    names = ["y", "dx", "dgamma", "dbeta", "moving_mean", "moving_variance"]
    for name, o, r in zip(names, out, ref):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(r).max()), err_msg=name)
    if training:  # the moving statistics did move, by the biased batch variance
        flat = np.asarray(x).reshape(-1, shape[-1])
        np.testing.assert_allclose(out[-1], 0.9 + 0.1 * flat.var(0), rtol=1e-5)


def test_bfloat16_policy_stays_close_and_in_bfloat16():
    x = tf.constant(np.random.default_rng(1).normal(0, 2, (8, 4, 4, 6)), tf.float32)
    ref = _run(keras.layers.BatchNormalization(epsilon=1e-6), x, True)
    layer = BatchNorm(epsilon=1e-6, dtype="mixed_bfloat16")
    assert layer(x, training=True).dtype == tf.bfloat16
    out = _run(BatchNorm(epsilon=1e-6, dtype="mixed_bfloat16"), x, True)
    np.testing.assert_allclose(out[0], ref[0], atol=0.05 * np.abs(ref[0]).max())
    np.testing.assert_allclose(out[-1], ref[-1], rtol=1e-3)


def test_synchronized_on_one_replica_is_the_local_batchnorm():
    x = tf.constant(np.random.default_rng(2).normal(5, 0.01, (8, 3)), tf.float32)
    ref = _run(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-6), x, True)
    out = _run(BatchNorm(momentum=0.9, epsilon=1e-6, synchronized=True), x, True)
    for o, r in zip(out, ref):
        np.testing.assert_allclose(o, r, rtol=1e-3, atol=1e-5 * max(1.0, np.abs(r).max()))


def test_training_uses_the_fused_kernel():
    layer = BatchNorm()
    layer.build((4, 2, 2, 3))
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec((4, 2, 2, 3))).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}
