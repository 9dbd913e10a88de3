"""Each loss against a direct numpy computation of the paper's formula."""

import numpy as np
import pytest
import tensorflow as tf

from vaegan_tf import losses

RNG = np.random.default_rng(0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_kl_prior_matches_numpy_and_closed_form():
    mean = RNG.normal(size=(5, 7)).astype(np.float32)
    log_var = RNG.normal(size=(5, 7)).astype(np.float32)
    expected = np.mean(-0.5 * np.sum(1 + log_var - mean ** 2 - np.exp(log_var), axis=1))
    np.testing.assert_allclose(losses.kl_prior(mean, log_var), expected, rtol=1e-5)
    # KL of a diagonal Gaussian from itself-as-prior is zero.
    assert float(losses.kl_prior(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32))) == 0.0


def test_kl_prior_matches_monte_carlo():
    mean, log_var = np.array([[0.7, -0.3]], np.float32), np.array([[-0.5, 0.4]], np.float32)
    std = np.exp(0.5 * log_var)
    z = mean + std * RNG.normal(size=(400_000, 2))
    log_q = -0.5 * (((z - mean) / std) ** 2 + log_var + np.log(2 * np.pi))
    log_p = -0.5 * (z ** 2 + np.log(2 * np.pi))
    mc = np.mean(np.sum(log_q - log_p, axis=1))
    np.testing.assert_allclose(losses.kl_prior(mean, log_var), mc, rtol=2e-2)


def test_gaussian_nll_is_half_sum_of_squares_per_example():
    a = RNG.normal(size=(4, 3, 3, 5)).astype(np.float32)
    b = RNG.normal(size=(4, 3, 3, 5)).astype(np.float32)
    expected = np.mean([0.5 * np.sum((a[i] - b[i]) ** 2) for i in range(4)])
    np.testing.assert_allclose(losses.gaussian_nll(a, b), expected, rtol=1e-5)


def test_gaussian_nll_equals_negative_log_density_up_to_constant():
    a = RNG.normal(size=(2, 6)).astype(np.float32)
    b = RNG.normal(size=(2, 6)).astype(np.float32)
    log_density = np.sum(-0.5 * (a - b) ** 2 - 0.5 * np.log(2 * np.pi), axis=1)
    const = 0.5 * 6 * np.log(2 * np.pi)
    np.testing.assert_allclose(losses.gaussian_nll(a, b), np.mean(-log_density) - const, rtol=1e-5)


def test_discriminator_loss_is_eq10_cross_entropy():
    real, fake1, fake2 = (RNG.normal(size=9).astype(np.float32) * 3 for _ in range(3))
    expected = -(np.mean(np.log(_sigmoid(real))) + np.mean(np.log(1 - _sigmoid(fake1)))
                 + np.mean(np.log(1 - _sigmoid(fake2))))
    np.testing.assert_allclose(losses.gan_discriminator_loss(real, [fake1, fake2]), expected, rtol=1e-5)


@pytest.mark.parametrize("form", ["saturating", "non_saturating"])
def test_generator_loss_forms(form):
    real = RNG.normal(size=6).astype(np.float32)
    fakes = [RNG.normal(size=6).astype(np.float32) * 2 for _ in range(2)]
    if form == "saturating":  # −L_GAN of Eq. 9, the real term included
        expected = np.mean(np.log(_sigmoid(real))) + sum(np.mean(np.log(1 - _sigmoid(f))) for f in fakes)
    else:
        expected = sum(np.mean(-np.log(_sigmoid(f))) for f in fakes)
    np.testing.assert_allclose(losses.gan_generator_loss(real, fakes, form), expected, rtol=1e-5)


def test_losses_stay_finite_for_extreme_logits():
    logits = tf.constant([-200.0, 200.0])
    assert np.isfinite(float(losses.gan_discriminator_loss(logits, [logits])))
    assert np.isfinite(float(losses.gan_generator_loss(logits, [logits], "non_saturating")))
    assert np.isfinite(float(losses.gan_generator_loss(logits, [logits], "saturating")))


def test_unknown_form_raises():
    with pytest.raises(ValueError, match="unknown GAN loss form"):
        losses.gan_generator_loss(tf.zeros(2), [tf.zeros(2)], "hinge")
