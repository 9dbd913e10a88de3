"""Each loss against a direct numpy computation of the paper's formula."""

import numpy as np
import pytest
import tensorflow as tf

from vaegan_tf.model import losses

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


def _neg_log(logits, real, eps):
    d = _sigmoid(np.asarray(logits, np.float64))
    return -np.log((d if real else 1 - d) + eps)


def test_cross_entropy_exact_and_with_eps():
    logits = RNG.normal(size=11).astype(np.float32) * 4
    for real in (True, False):
        np.testing.assert_allclose(losses.cross_entropy(logits, real),
                                   _neg_log(logits, real, 0.0), rtol=1e-5)
        # −log(D + ε) crosses 0 near D = 1, where float32's absolute error is what remains.
        np.testing.assert_allclose(losses.cross_entropy(logits, real, 1e-3),
                                   _neg_log(logits, real, 1e-3), rtol=1e-5, atol=1e-6)
    # ε bounds each term by −log ε, where the exact one grows without limit.
    bounded = float(losses.cross_entropy(tf.constant([-40.0]), True, 1e-3)[0])
    np.testing.assert_allclose(bounded, -np.log(1e-3), rtol=1e-6)
    assert float(losses.cross_entropy(tf.constant([-40.0]), True)[0]) == pytest.approx(40.0)


def test_discriminator_loss_is_eq10_cross_entropy():
    # Eq. 10 read literally: the three cross-entropies summed; real_vs_gen_weight = 1/3 with
    # ε = 0 gives that sum over 1 + n_fakes = 3.
    real, fake1, fake2 = (RNG.normal(size=9).astype(np.float32) * 3 for _ in range(3))
    expected = -(np.mean(np.log(_sigmoid(real))) + np.mean(np.log(1 - _sigmoid(fake1)))
                 + np.mean(np.log(1 - _sigmoid(fake2))))
    np.testing.assert_allclose(losses.gan_discriminator_loss(real, [fake1, fake2], 1 / 3, 0.0),
                               expected / 3, rtol=1e-5)


@pytest.mark.parametrize("weight", [0.5, 0.3])
@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.1])
@pytest.mark.parametrize("n_fakes", [1, 2])
def test_discriminator_loss_weighting_and_eps(weight, eps, n_fakes):
    real = RNG.normal(size=9).astype(np.float32) * 3
    fakes = [RNG.normal(size=9).astype(np.float32) * 3 for _ in range(n_fakes)]
    expected = (weight * np.mean(_neg_log(real, True, eps))
                + (1 - weight) * np.mean([np.mean(_neg_log(f, False, eps)) for f in fakes]))
    np.testing.assert_allclose(losses.gan_discriminator_loss(real, fakes, weight, eps), expected,
                               rtol=1e-5)


def test_discriminator_loss_defaults_are_the_authors_weight_and_exact_logs():
    real, fake = RNG.normal(size=9).astype(np.float32), RNG.normal(size=9).astype(np.float32)
    expected = 0.5 * np.mean(_neg_log(real, True, 0.0)) + 0.5 * np.mean(_neg_log(fake, False, 0.0))
    np.testing.assert_allclose(losses.gan_discriminator_loss(real, [fake]), expected, rtol=1e-5)


@pytest.mark.parametrize("form", ["saturating", "non_saturating"])
def test_generator_loss_forms(form):
    # Eq. 9's −L_GAN with Eq. 10's unweighted sum: real weight 1/3 of three terms, exact logs.
    real = RNG.normal(size=6).astype(np.float32)
    fakes = [RNG.normal(size=6).astype(np.float32) * 2 for _ in range(2)]
    if form == "saturating":  # −L_GAN of Eq. 9, the real term included
        expected = np.mean(np.log(_sigmoid(real))) + sum(np.mean(np.log(1 - _sigmoid(f))) for f in fakes)
    else:
        expected = sum(np.mean(-np.log(_sigmoid(f))) for f in fakes)
    np.testing.assert_allclose(losses.gan_generator_loss(real, fakes, form, 1 / 3, 0.0), expected,
                               rtol=1e-5)


@pytest.mark.parametrize("weight", [0.5, 0.3])
@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.1])
@pytest.mark.parametrize("n_fakes", [1, 2])
def test_generator_loss_weighting_and_eps(weight, eps, n_fakes):
    real = RNG.normal(size=7).astype(np.float32) * 2
    fakes = [RNG.normal(size=7).astype(np.float32) * 2 for _ in range(n_fakes)]
    # Saturating: Dec ascends Dis's loss with the fakes' weight divided back out, i.e. every
    # fake's log(1 − D + ε) at weight 1 and the real term at n·w/(1 − w).
    saturating = (n_fakes * weight / (1 - weight) * np.mean(np.log(_sigmoid(real) + eps))
                  + sum(np.mean(np.log(1 - _sigmoid(f) + eps)) for f in fakes))
    non_saturating = sum(np.mean(-np.log(_sigmoid(f) + eps)) for f in fakes)
    np.testing.assert_allclose(losses.gan_generator_loss(real, fakes, "saturating", weight, eps),
                               saturating, rtol=1e-5)
    np.testing.assert_allclose(
        losses.gan_generator_loss(real, fakes, "non_saturating", weight, eps), non_saturating,
        rtol=1e-5)
    k = losses.generator_per_discriminator(weight, n_fakes)
    assert k == pytest.approx(-n_fakes / (1 - weight))
    np.testing.assert_allclose(losses.gan_generator_loss(real, fakes, "saturating", weight, eps),
                               k * losses.gan_discriminator_loss(real, fakes, weight, eps),
                               rtol=1e-6)


def test_generator_loss_default_form_is_saturating():
    real, fake = RNG.normal(size=5).astype(np.float32), RNG.normal(size=5).astype(np.float32)
    np.testing.assert_allclose(losses.gan_generator_loss(real, [fake]),
                               losses.gan_generator_loss(real, [fake], "saturating"), rtol=1e-7)


@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_losses_stay_finite_for_extreme_logits(eps):
    logits = tf.constant([-200.0, 200.0])
    assert np.isfinite(float(losses.gan_discriminator_loss(logits, [logits], 0.5, eps)))
    assert np.isfinite(float(losses.gan_generator_loss(logits, [logits], "non_saturating", 0.5, eps)))
    assert np.isfinite(float(losses.gan_generator_loss(logits, [logits], "saturating", 0.5, eps)))
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = losses.gan_discriminator_loss(logits, [logits], 0.5, eps)
    assert np.all(np.isfinite(tape.gradient(loss, logits)))


def test_unknown_form_raises():
    with pytest.raises(ValueError, match="unknown GAN loss form"):
        losses.gan_generator_loss(tf.zeros(2), [tf.zeros(2)], "hinge")
