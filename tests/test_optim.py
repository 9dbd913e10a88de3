"""optim.py: RMSProp with ε after the square root (deeppy) and the authors' GammaAnnealer,
each against a numpy reimplementation, and the model's optimizers wired to them."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from vaegan_tf.model import optim
from vaegan_tf.model.vaegan import VAEGAN


def _model(**kw):
    model = VAEGAN(tiny_config(**kw))
    model.compile()
    return model


def _images(n=8, size=32, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)), tf.float32)


# --- 7. RMSProp with ε after the square root ---

def _deeppy_rmsprop(w, grads, lr, rho, eps):
    w, v = np.array(w, np.float64), np.zeros_like(w, np.float64)
    for g in grads:
        v = rho * v + (1 - rho) * np.square(g)
        w = w - lr * g / (np.sqrt(v) + eps)
    return w


def _keras_rmsprop(w, grads, lr, rho, eps):
    w, v = np.array(w, np.float64), np.zeros_like(w, np.float64)
    for g in grads:
        v = rho * v + (1 - rho) * np.square(g)
        w = w - lr * g / np.sqrt(v + eps)
    return w


def _apply(opt, w0, grads):
    var = keras.Variable(np.asarray(w0, np.float32))
    for g in grads:
        opt.apply([tf.constant(g, tf.float32)], [var])
    return var.numpy()


@pytest.mark.parametrize("epsilon", [1e-8, 1e-3])
@pytest.mark.parametrize("steps", [1, 2])
def test_rmsprop_after_sqrt_matches_deeppy(steps, epsilon):
    rng = np.random.default_rng(0)
    w0 = np.zeros((4, 6))  # the rule does not read w; from 0, float32 keeps every update exact
    # Gradients from 1e-6 to 1 (per column), so ε's place shows in some of them.
    magnitude = np.logspace(-6, 0, 6)
    grads = [rng.normal(size=(4, 6)) * magnitude for _ in range(steps)]
    got = _apply(optim.RMSpropAfterSqrt(learning_rate=0.01, rho=0.9, epsilon=epsilon), w0, grads)
    np.testing.assert_allclose(got, _deeppy_rmsprop(w0, grads, 0.01, 0.9, epsilon), rtol=1e-4,
                               atol=1e-12)


def test_rmsprop_after_sqrt_differs_from_keras_for_tiny_gradients():
    w0, grads = np.zeros(5), [np.full(5, 1e-6)] * 2
    ours = _apply(optim.RMSpropAfterSqrt(learning_rate=0.01, rho=0.9, epsilon=1e-8), w0, grads)
    theirs = _apply(keras.optimizers.RMSprop(learning_rate=0.01, rho=0.9, epsilon=1e-8), w0, grads)
    np.testing.assert_allclose(ours, _deeppy_rmsprop(w0, grads, 0.01, 0.9, 1e-8), rtol=1e-5)
    np.testing.assert_allclose(theirs, _keras_rmsprop(w0, grads, 0.01, 0.9, 1e-8), rtol=1e-4)
    assert np.all(np.abs(ours) > 100 * np.abs(theirs))  # √ε ≈ 1e-4 floors Keras's denominator


@pytest.mark.parametrize("where,cls", [("after_sqrt", optim.RMSpropAfterSqrt),
                                       ("inside_sqrt", keras.optimizers.RMSprop)])
def test_model_optimizers_follow_rmsprop_epsilon_at(where, cls):
    model = _model(rmsprop_epsilon_at=where, rmsprop_epsilon=3e-8, rmsprop_rho=0.8)
    for opt in model.optimizers.values():
        assert type(opt) is cls
        assert (opt.epsilon, opt.rho) == (3e-8, 0.8)


# --- 8. the gamma learning-rate schedule ---

def _gamma_rate(t, a, b, total, power, epoch):
    progress = min(np.floor(t / epoch) / (total / epoch), 1.0)
    return a - progress ** power * (a - b)


@pytest.mark.parametrize("step", [0, 125, 249, 250, 251, 31_337, 62_499, 62_500, 70_000])
def test_gamma_annealed_rate(step):
    a, b, total, power, epoch = 0.025 / 64, 1e-5 / 64, 62_500, 0.75, 250
    got = float(optim.gamma_annealed_rate(tf.constant(step, tf.int64), a, b, total, power, epoch))
    # float32: a − (a − b) leaves an error of a few ulps of a, a large fraction of b.
    atol = 1e-6 * a
    np.testing.assert_allclose(got, _gamma_rate(step, a, b, total, power, epoch), rtol=1e-5,
                               atol=atol)
    # Spot values: the start, still the start mid-epoch, the end at and past T.
    if step < epoch:
        np.testing.assert_allclose(got, a, rtol=1e-6)
    if step >= total:
        np.testing.assert_allclose(got, b, rtol=0, atol=atol)


def test_optimizers_read_the_model_step_as_clock():
    model = _model(train_steps=1000, lr_epoch_steps=10, learning_rate=1e-3, lr_end=1e-5,
                   lr_power=0.75)
    for step in (0, 5, 500, 995, 1000, 2000):
        model.step.assign(step)
        expected = _gamma_rate(step, 1e-3, 1e-5, 1000, 0.75, 10)
        for name, opt in model.optimizers.items():
            assert int(opt.iterations.numpy()) == 0  # the optimizers never stepped
            np.testing.assert_allclose(float(opt.learning_rate), expected, rtol=1e-5,
                                       err_msg=f"{name} at step {step}")
    model.lr_scale.assign(0.5)  # the divergence guard's factor still applies
    np.testing.assert_allclose(float(model.optimizers["encoder"].learning_rate),
                               0.5 * _gamma_rate(2000, 1e-3, 1e-5, 1000, 0.75, 10), rtol=1e-5)


def test_gated_network_keeps_the_run_schedule():
    # Dis rests (gate), so its optimizer counts fewer iterations than the run; its rate follows
    # the run's step all the same.
    model = _model(train_steps=40, lr_epoch_steps=1, learning_rate=1e-3, lr_end=1e-5,
                   equilibrium=100.0, margin=0.0)
    model.train_step(_images())
    assert int(model.optimizers["discriminator"].iterations.numpy()) == 0
    assert int(model.optimizers["encoder"].iterations.numpy()) == 1
    expected = _gamma_rate(1, 1e-3, 1e-5, 40, 0.75, 1)
    for opt in model.optimizers.values():
        np.testing.assert_allclose(float(opt.learning_rate), expected, rtol=1e-5)
