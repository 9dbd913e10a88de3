"""The three-tape train_step: masked gradients against an independent reference, and updates."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import PAPER_LITERAL, tiny_config

from vaegan_tf.model.forward import equilibrium_gate
from vaegan_tf.model.vaegan import VAEGAN


def _images(n=8, size=32, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)), tf.float32)


def _softplus(x):
    # Not max(x, 0) + log1p(exp(-|x|)): its gradient is wrong at exactly x = 0, which a logit
    # hits when all of Dis's last ReLUs are off.
    return -tf.math.log_sigmoid(-x)


def _reference_terms(model, x):
    """The vaegan losses written out again from the paper, calling the networks directly."""
    c = model.config
    b = x.shape[0]
    mean, log_var = model.encoder(x, training=True)
    eps = keras.random.normal(tf.shape(mean), seed=model.noise)
    z = mean + tf.exp(log_var / 2) * eps
    z_p = keras.random.normal((b, c.latent_dim), seed=model.noise)
    decoded = model.decoder(tf.concat([z, z_p], 0), training=True)
    x_tilde, x_p = decoded[:b], decoded[b:]
    logits, feats = model.discriminator(tf.concat([x, x_tilde, x_p], 0), training=True)
    l_x, l_t, l_p = logits[:b], logits[b:2 * b], logits[2 * b:]
    f_x, f_t = feats[:b], feats[b:2 * b]
    prior = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - 1 - log_var, 1))
    llike = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(f_x - f_t), [1, 2, 3]))
    log_d = lambda l: -_softplus(-l)  # noqa: E731  log sigmoid
    log_1md = lambda l: -_softplus(l)  # noqa: E731  log(1 - sigmoid)
    l_gan = tf.reduce_mean(log_d(l_x)) + tf.reduce_mean(log_1md(l_t)) + tf.reduce_mean(log_1md(l_p))
    if c.gan_loss == "saturating":
        dec_gan = l_gan
    else:
        dec_gan = -tf.reduce_mean(log_d(l_t)) - tf.reduce_mean(log_d(l_p))
    # Eq. 10's three log-likelihoods one by one, from D = sigmoid directly (not the softplus form),
    # so Eq. 9's Dec gradient can be rebuilt term by term without the dec_gan/L_GAN sums.
    d = lambda l: tf.sigmoid(tf.cast(l, tf.float64))  # noqa: E731
    return {"prior": prior, "llike": llike, "L_GAN": l_gan, "dec_gan": dec_gan,
            "log D(x)": tf.reduce_mean(tf.math.log(d(l_x))),
            "log(1-D(x~))": tf.reduce_mean(tf.math.log(1 - d(l_t))),
            "log(1-D(x_p))": tf.reduce_mean(tf.math.log(1 - d(l_p)))}


def _reference_grads(model, x):
    """One tape per loss term and network, so each gradient part is seen separately."""
    state = model.noise.state.numpy()
    with tf.GradientTape(persistent=True) as tape:
        terms = _reference_terms(model, x)
    model.noise.state.assign(state)
    out = {}
    for net in ("encoder", "decoder", "discriminator"):
        variables = model.networks[net].trainable_variables
        for term, value in terms.items():
            grads = tape.gradient(value, variables)
            out[net, term] = [np.zeros(v.shape, np.float32) if g is None else np.asarray(g)
                              for g, v in zip(grads, variables)]
    return out


def _model(**kw):
    model = VAEGAN(tiny_config(**kw))
    model.compile()
    return model


def _close(actual, expected, what):
    scale = max(max(np.abs(e).max() for e in expected), 1e-6)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(np.asarray(a), e, atol=2e-5 * scale, rtol=1e-4, err_msg=what)


@pytest.mark.parametrize("gan_loss", ["non_saturating", "saturating"])
def test_masked_gradients_match_separate_tapes(gan_loss):
    # The reference reads the paper literally: one Dis pass, Dec on [z, z_p] at once, both fakes,
    # exact cross-entropies, gradients through both sides of L_llike.
    model = _model(**{**PAPER_LITERAL, "gan_loss": gan_loss}, gamma=0.01)
    x = _images()
    ref = _reference_grads(model, x)
    _, grads = model.gradients(x)
    g = model.config.gamma
    add = lambda a, b, s=1.0: [u + s * v for u, v in zip(a, b)]  # noqa: E731
    _close(grads["encoder"], add(ref["encoder", "prior"], ref["encoder", "llike"]), "encoder")
    _close(grads["decoder"], add([g * u for u in ref["decoder", "llike"]], ref["decoder", "dec_gan"]),
           "decoder")
    # Dis's loss is Eq. 10's sum of its three cross-entropies weighted alike (real_vs_gen_weight
    # 1/3 for the real term, 2/3 shared by the two fakes): −L_GAN / 3.
    assert model.config.real_vs_gen_weight == pytest.approx(1 / 3)
    _close(grads["discriminator"], [-u / 3 for u in ref["discriminator", "L_GAN"]], "discriminator")
    # The masks matter: the terms that must be left out do have gradients there.
    assert max(np.abs(u).max() for u in ref["encoder", "dec_gan"]) > 0
    assert max(np.abs(u).max() for u in ref["discriminator", "llike"]) > 0
    if gan_loss == "saturating":
        # Eq. 9 literally: Dec descends γ·L_llike + L_GAN, L_GAN = Eq. 10's sum of log D(x),
        # log(1 − D(x̃)) and log(1 − D(x_p)), each term differentiated on its own.
        fakes = add(ref["decoder", "log(1-D(x~))"], ref["decoder", "log(1-D(x_p))"])
        llike = [g * u for u in ref["decoder", "llike"]]
        _close(grads["decoder"], add(add(llike, fakes), ref["decoder", "log D(x)"]), "decoder, Eq. 9")
        # Dis's BN shares statistics across [x, x̃, x_p], so even log D(x) moves with Dec: its
        # gradient is not zero, and Dec's gradient without it (the fakes alone) is measurably off.
        real_only = ref["decoder", "log D(x)"]
        assert max(np.abs(u).max() for u in real_only) > 0
        without_real = add(llike, fakes)
        missing = max(np.abs(np.asarray(a) - e).max() for a, e in zip(grads["decoder"], without_real))
        floor = 1e-3 * max(np.abs(e).max() for e in without_real)
        assert missing > floor, "Dec's saturating gradient lacks log D(x)"


@pytest.mark.parametrize("dis_batch", ["joint", "separate"])
def test_encoder_gradient_ignores_gan_form_and_gamma(dis_batch):
    x = _images()
    grads, first, state = {}, None, None
    for kw in (dict(gan_loss="saturating", gamma=1e-6), dict(gan_loss="non_saturating", gamma=0.5)):
        model = _model(dis_batch=dis_batch, **kw)
        if first is None:
            first, state = model, model.noise.state.numpy()
        else:  # same weights and the same noise draws
            model.set_weights(first.get_weights())
            model.noise.state.assign(state)
        grads[kw["gan_loss"]] = model.gradients(x)[1]
    _close(grads["saturating"]["encoder"], [np.asarray(u) for u in grads["non_saturating"]["encoder"]],
           "encoder")
    dec_diff = max(np.abs(np.asarray(a) - np.asarray(b)).max()
                   for a, b in zip(grads["saturating"]["decoder"], grads["non_saturating"]["decoder"]))
    assert dec_diff > 1e-6


def test_one_step_updates_all_networks_and_bn_statistics():
    model = _model()
    before = {v.path: v.numpy() for v in model.weights}
    model.train_step((_images(), tf.zeros((8, 3))))
    changed = {v.path for v in model.weights if not np.array_equal(before[v.path], v.numpy())}
    for net in ("encoder", "decoder", "discriminator"):
        for v in model.networks[net].trainable_variables:
            assert v.path in changed, f"{v.path} not updated"
        moving = [v for v in model.networks[net].non_trainable_variables if "moving" in v.path]
        assert moving and all(v.path in changed for v in moving), f"{net} BN statistics frozen"
    assert int(model.step.numpy()) == 1


def test_frozen_discriminator_of_vae_disl_does_not_change(tmp_path):
    model = _model(model="vae_disl", disl_from=str(tmp_path))
    dis_before = [v.numpy() for v in model.discriminator.weights]
    model.train_step(_images())
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(dis_before, model.discriminator.weights))
    assert model.trained_networks == ["encoder", "decoder"]


@pytest.mark.parametrize("fakes,expected", [("both", ["recon", "prior"]), ("prior", ["prior"]),
                                            ("recon", ["recon"])])
def test_gan_fakes_switch(fakes, expected):
    model = _model(gan_fakes=fakes)
    assert model.fake_kinds == expected
    terms = model.forward(_images(), training=True)
    assert {f"d_{k}" for k in expected} <= set(terms)
    assert not ({"d_recon", "d_prior"} - {f"d_{k}" for k in expected}) & set(terms)


def test_equilibrium_gate_truth_table():
    eq, m = 0.68, 0.35
    cases = {  # (real, fake) -> (train_dis, train_dec)
        (0.7, 0.7): (True, True),
        (0.1, 0.7): (False, True),   # Dis too good on reals: rest it
        (0.7, 1.5): (True, False),   # Dis too poor: let it catch up, rest Dec
        (0.1, 1.5): (True, True),    # both would be skipped: train both
    }
    for (real, fake), want in cases.items():
        got = equilibrium_gate(tf.constant(real), tf.constant(fake), eq, m)
        assert (bool(got[0]), bool(got[1])) == want, (real, fake)


def test_gate_skips_updates_and_reports_it():
    model = _model(equilibrium_gate=True, equilibrium=100.0, margin=0.0)  # Dis always "too good"
    dis_before = [v.numpy() for v in model.discriminator.trainable_variables]
    dec_before = [v.numpy() for v in model.decoder.trainable_variables]
    logs = model.train_step(_images())
    assert float(logs["skip_dis"]) == 1.0 and float(logs["skip_dec"]) == 0.0
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(dis_before, model.discriminator.trainable_variables))
    assert not all(np.array_equal(a, v.numpy()) for a, v in zip(dec_before, model.decoder.trainable_variables))


@pytest.mark.parametrize("name", ["vaegan", *(pytest.param(m, marks=pytest.mark.slow)  # fit() each
                                               for m in ("vae", "vaegan_dis0", "gan"))])
def test_fit_two_steps_finite(name):
    model = _model(model=name)
    ds = tf.data.Dataset.from_tensors((_images(), tf.zeros((8, 3)))).repeat()
    history = model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    assert history.history and all(np.isfinite(v[-1]) for v in history.history.values())
    assert int(model.step.numpy()) == 2
    assert model.evaluate(ds.take(1), return_dict=True, verbose=0)


def test_compile_rejects_optimizer_for_untrained_network():
    model = VAEGAN(tiny_config(model="vae"))
    with pytest.raises(ValueError, match="discriminator"):
        model.compile(optimizers={"discriminator": keras.optimizers.SGD()})


@pytest.mark.parametrize("dis_batch", ["joint", "separate"])
def test_dis_batch_statistics(dis_batch):
    model = _model(dis_batch=dis_batch)
    x = _images()
    terms = model.forward(x, training=True)
    alone = float(tf.reduce_mean(tf.sigmoid(model.discriminator(x, training=True)[0])))
    # Per-source calls normalise the real batch by its own statistics; one joint call does not.
    if dis_batch == "separate":
        np.testing.assert_allclose(float(terms["d_real"]), alone, rtol=1e-5)
    else:
        assert abs(float(terms["d_real"]) - alone) > 1e-4

