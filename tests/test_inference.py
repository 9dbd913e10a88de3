"""inference.py: the one batched-inference helper gives what one call on everything gives."""

import os

import numpy as np
import tensorflow as tf
from conftest import tiny_config

from vaegan_tf.evaluation import inference
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.workdir import Workdir


def test_batched_concatenates_arrays_and_tuples_in_order():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = 10 * x
    seen = []

    def fn(a, b):
        seen.append(len(a))
        return a + b, a * 2
    total, double = inference.batched(fn, x, 4, y)
    assert seen == [4, 4, 2]
    np.testing.assert_array_equal(total, x + y)
    np.testing.assert_array_equal(double, 2 * x)
    np.testing.assert_array_equal(inference.batched(lambda a: a - 1, x, 3), x - 1)


def test_encode_and_decode_in_batches_match_one_call():
    model = VAEGAN(tiny_config())
    images = np.random.default_rng(0).uniform(-1, 1, (11, 32, 32, 3)).astype(np.float32)
    mean = inference.encode(model, images, batch_size=4)
    np.testing.assert_allclose(mean, model.encoder(tf.constant(images), training=False)[0],
                               atol=1e-5)
    decoded = inference.decode(model, mean, batch_size=5)
    np.testing.assert_allclose(decoded, model.decoder(tf.constant(mean), training=False),
                               atol=1e-5)


def test_restore_reads_the_asked_checkpoint(saved_checkpoints):
    workdir, config, weights = saved_checkpoints
    for step, checkpoint in ((4, None), (2, os.path.join(workdir, "checkpoints", "ckpt-2"))):
        model = inference.restore(Workdir(workdir), checkpoint=checkpoint)
        assert int(model.step.numpy()) == step and model.config == config
        for got, want in zip(model.decoder.weights, weights[step]):
            np.testing.assert_array_equal(got.numpy(), want)
    older = config.replace(checkpoint=os.path.join(workdir, "checkpoints", "ckpt-2"))
    assert int(inference.restore(Workdir(workdir), older).step.numpy()) == 2  # config.checkpoint
