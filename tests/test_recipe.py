"""The authors' training recipe (Config switches), each against an independent reference.

The reference calls the networks directly (model.encoder, model.decoder, model.discriminator and
model.discriminator.features) under its own tape and writes every loss out again, so each switch
is checked by what it does to the gradients, the updates or the statistics, not by reading the
model's code back. Noise: the reference draws ε and z_p from model.noise in the model's order
(encode draws ε, generate then draws z_p) and restores the generator's state, so the model draws
the same numbers afterwards.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import PAPER_LITERAL, tiny_config

from vaegan_tf.model.vaegan import VAEGAN


def _images(n=8, size=32, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)), tf.float32)


def _model(**kw):
    model = VAEGAN(tiny_config(**kw))
    model.compile()
    return model


# --- the reference ---

def _neg_log(logits, real, eps):
    """−log(D + ε) (real) or −log(1 − D + ε) (fake), D = sigmoid(logits); ε = 0 exactly."""
    if not eps:
        return -tf.math.log_sigmoid(logits if real else -logits)
    d = tf.sigmoid(logits)
    return -tf.math.log((d if real else 1.0 - d) + eps)


def _noise(model, batch):
    """ε and z_p as the model will draw them next; the generator is left where it was."""
    state = model.noise.state.numpy()
    latent = model.config.latent_dim
    eps = keras.random.normal((batch, latent), seed=model.noise)
    z_p = keras.random.normal((batch, latent), seed=model.noise)
    model.noise.state.assign(state)
    return eps, z_p


def _reference(model, x, *, passes="two", stop_target=True, dec="separate", fakes=("prior",),
               form="saturating", eps=1e-3, w=0.5, gamma=None):
    """Every vaegan loss term written out, for the recipe given by the keywords (the authors'
    defaults), whatever model.config says. Call under a tape."""
    b = x.shape[0]
    noise, z_p = _noise(model, b)
    mean, log_var = model.encoder(x, training=True)
    z = mean + tf.exp(0.5 * log_var) * noise
    if dec == "separate":
        x_t, x_p = model.decoder(z, training=True), model.decoder(z_p, training=True)
    else:
        x_t, x_p = tf.split(model.decoder(tf.concat([z, z_p], 0), training=True), 2)
    generated = {"recon": x_t, "prior": x_p}
    dis = model.discriminator
    if passes == "two":
        # Similarity: Dis up to Dis_l on [x̃, x] (one batch: joint statistics); GAN: Dis on [x, fakes].
        f_t, f_x = tf.split(dis.features(tf.concat([x_t, x], 0), training=True,
                                         update_statistics=False), 2)
        logits = tf.split(dis(tf.concat([x] + [generated[k] for k in fakes], 0), training=True)[0],
                          1 + len(fakes))
        l_x, l_f = logits[0], dict(zip(fakes, logits[1:]))
    else:  # one Dis call on [x, x̃, x_p] gives both
        sources = ["recon"] + (["prior"] if "prior" in fakes else [])
        logits, feats = dis(tf.concat([x] + [generated[k] for k in sources], 0), training=True)
        logits, feats = tf.split(logits, 1 + len(sources)), tf.split(feats, 1 + len(sources))
        l_x, l_f = logits[0], {k: logits[1 + sources.index(k)] for k in fakes}
        f_x, f_t = feats[0], feats[1]
    if stop_target:
        f_x = tf.stop_gradient(f_x)
    prior = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - 1 - log_var, 1))
    llike = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(f_x - f_t), [1, 2, 3]))
    real_ce = tf.reduce_mean(_neg_log(l_x, True, eps))
    fake_ce = sum(tf.reduce_mean(_neg_log(l_f[k], False, eps)) for k in fakes) / len(fakes)
    dis_loss = w * real_ce + (1 - w) * fake_ce
    if form == "saturating":
        gan_dec = -len(fakes) / (1 - w) * dis_loss
    else:
        gan_dec = sum(tf.reduce_mean(_neg_log(l_f[k], True, eps)) for k in fakes)
    gamma = model.config.gamma if gamma is None else gamma
    return {"prior": prior, "llike": llike, "dis_loss": dis_loss, "gan_dec": gan_dec,
            "enc_loss": prior + llike, "dec_loss": gamma * llike + gan_dec,
            "real_ce": real_ce, "fake_ce": fake_ce, "x_tilde": x_t, "x_p": x_p,
            "features": (f_x, f_t)}


def _reference_grads(model, x, **recipe):
    """{network: gradient of its reference loss}, and the reference terms."""
    with tf.GradientTape(persistent=True) as tape:
        terms = _reference(model, x, **recipe)
    losses = {"encoder": "enc_loss", "decoder": "dec_loss", "discriminator": "dis_loss"}
    grads = {}
    for net, loss in losses.items():
        variables = model.networks[net].trainable_variables
        grads[net] = [np.zeros(v.shape, np.float32) if g is None else np.asarray(g)
                      for g, v in zip(tape.gradient(terms[loss], variables), variables)]
    return grads, terms


def _model_grads(model, x):
    _, grads = model.gradients(x)
    return {n: [np.asarray(g) for g in gs] for n, gs in grads.items()}


def _close(actual, expected, what):
    scale = max(max(np.abs(e).max() for e in expected), 1e-12)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(np.asarray(a), e, atol=2e-5 * scale, rtol=1e-4, err_msg=what)


def _rel_diff(a, b):
    """Largest difference between two gradient lists, relative to the larger of their scales."""
    scale = max(max(np.abs(u).max() for u in a), max(np.abs(u).max() for u in b))
    return max(np.abs(np.asarray(u) - np.asarray(v)).max() for u, v in zip(a, b)) / scale


def _moving(network):
    return {v.path: v.numpy() for v in network.non_trainable_variables if "moving" in v.path}


# --- 1. two Dis passes ---

def test_two_pass_dis_gradient_is_the_gan_pass_on_real_and_prior_only():
    model = _model(gamma=0.5)
    x = _images()
    ref, _ = _reference_grads(model, x)
    grads = _model_grads(model, x)
    _close(grads["discriminator"], ref["discriminator"], "discriminator")
    # The control: had x̃ shared the GAN pass's batch statistics (one pass), the gradient differs.
    one, _ = _reference_grads(model, x, passes="one")
    assert _rel_diff(one["discriminator"], ref["discriminator"]) > 1e-2


def test_two_pass_moves_dis_statistics_by_the_gan_pass_alone():
    model = _model()
    x = _images()
    before = _moving(model.discriminator)
    assert before
    _, z_p = _noise(model, x.shape[0])
    model.discriminator(tf.concat([x, model.decoder(z_p, training=True)], 0), training=True)
    gan_pass = _moving(model.discriminator)
    for v in model.discriminator.non_trainable_variables:
        if v.path in before:
            v.assign(before[v.path])
    model.train_step(_images())
    after = _moving(model.discriminator)
    for path, value in gan_pass.items():
        assert not np.allclose(value, before[path]), path  # the GAN pass does move them
        np.testing.assert_allclose(after[path], value, rtol=1e-5, atol=1e-6, err_msg=path)


def test_similarity_features_use_joint_statistics_of_recon_and_real():
    model = _model()
    x = _images()
    with tf.GradientTape():
        ref = _reference(model, x)
    terms = model.forward(x, training=True)
    np.testing.assert_allclose(float(terms["llike"]), float(ref["llike"]), rtol=1e-5)
    # Control: features normalised per source would give another L_llike.
    dis = model.discriminator
    f_t = dis.features(ref["x_tilde"], training=True, update_statistics=False)
    f_x = dis.features(x, training=True, update_statistics=False)
    separate = float(tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(f_x - f_t), [1, 2, 3])))
    assert abs(separate - float(terms["llike"])) > 1e-3 * abs(separate)


def test_update_statistics_false_leaves_moving_statistics_alone():
    model = _model()
    x = _images()
    before = _moving(model.discriminator)
    out = model.discriminator.features(x, training=True, update_statistics=False)
    assert all(np.array_equal(v, before[k]) for k, v in _moving(model.discriminator).items())
    moved = model.discriminator.features(x, training=True)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(moved))  # same batch statistics
    assert not all(np.array_equal(v, before[k]) for k, v in _moving(model.discriminator).items())


def test_one_pass_moves_dis_statistics_once():
    model = _model(**PAPER_LITERAL)
    x = _images()
    before = _moving(model.discriminator)
    with tf.GradientTape():
        _reference(model, x, passes="one", dec="joint", fakes=("recon", "prior"), stop_target=False)
    one_call = _moving(model.discriminator)
    for v in model.discriminator.non_trainable_variables:
        if v.path in before:
            v.assign(before[v.path])
    model.train_step(x)
    for path, value in one_call.items():
        np.testing.assert_allclose(_moving(model.discriminator)[path], value, rtol=1e-5,
                                   atol=1e-6, err_msg=path)


# --- 2. no gradient through L_llike's target ---

@pytest.mark.parametrize("stop", [True, False])
def test_llike_stop_target(stop):
    # γ = 1: Dec's L_llike gradient is not drowned by its GAN term.
    model = _model(llike_stop_target=stop, gamma=1.0)
    x = _images()
    ref, _ = _reference_grads(model, x, stop_target=stop)
    other, _ = _reference_grads(model, x, stop_target=not stop)
    grads = _model_grads(model, x)
    for net in ("encoder", "decoder"):
        _close(grads[net], ref[net], net)
        # Joint BN couples Dis_l(x) to x̃, so the target's gradient is not zero.
        assert _rel_diff(grads[net], other[net]) > 1e-3, net


# --- 3. which fakes Dis sees ---

def test_prior_only_fakes_keep_recon_out_of_dis_loss():
    model = _model(gan_fakes="prior")
    x = _images()
    prior, _ = _reference_grads(model, x, fakes=("prior",))
    both, _ = _reference_grads(model, x, fakes=("recon", "prior"))
    grads = _model_grads(model, x)
    _close(grads["discriminator"], prior["discriminator"], "discriminator")
    assert _rel_diff(grads["discriminator"], both["discriminator"]) > 1e-2


def test_both_fakes_enter_dis_loss():
    model = _model(gan_fakes="both")
    x = _images()
    both, _ = _reference_grads(model, x, fakes=("recon", "prior"))
    grads = _model_grads(model, x)
    _close(grads["discriminator"], both["discriminator"], "discriminator")
    _close(grads["decoder"], both["decoder"], "decoder")


# --- 4. the saturating GAN loss with ε and the real/generated weighting ---

@pytest.mark.parametrize("fakes", [("prior",), ("recon", "prior")])
def test_saturating_generator_gradient_is_k_times_dis_loss(fakes):
    w, eps = 0.3, 0.05  # away from the defaults, so each one is seen to act
    gan_fakes = "both" if len(fakes) == 2 else "prior"
    model = _model(gan_fakes=gan_fakes, gan_loss="saturating", real_vs_gen_weight=w, gan_eps=eps,
                   gamma=0.0)
    x = _images()
    with tf.GradientTape(persistent=True) as tape:
        terms = _reference(model, x, fakes=fakes, eps=eps, w=w)
        # Written out again: Dec ascends Dis's weighted loss scaled by n_fakes / (1 − w).
        dec_gan = -len(fakes) / (1 - w) * terms["dis_loss"]
    variables = model.decoder.trainable_variables
    expected = [np.asarray(g) for g in tape.gradient(dec_gan, variables)]
    grads = _model_grads(model, x)
    _close(grads["decoder"], expected, "decoder")
    _close(grads["discriminator"],
           [np.asarray(g) for g in tape.gradient(terms["dis_loss"],
                                                 model.discriminator.trainable_variables)],
           "discriminator")
    # Controls: without ε, or with the default weighting, the gradient would differ.
    no_eps, _ = _reference_grads(model, x, fakes=fakes, eps=0.0, w=w, gamma=0.0)
    half, _ = _reference_grads(model, x, fakes=fakes, eps=eps, w=0.5, gamma=0.0)
    assert _rel_diff(grads["decoder"], no_eps["decoder"]) > 1e-3
    assert _rel_diff(grads["decoder"], half["decoder"]) > 1e-3


def test_non_saturating_generator_gradient_differs():
    eps = 0.05
    model = _model(gan_loss="non_saturating", gan_eps=eps, gamma=0.0)
    x = _images()
    ref, _ = _reference_grads(model, x, form="non_saturating", eps=eps, gamma=0.0)
    saturating, _ = _reference_grads(model, x, form="saturating", eps=eps, gamma=0.0)
    grads = _model_grads(model, x)
    _close(grads["decoder"], ref["decoder"], "decoder")
    assert _rel_diff(grads["decoder"], saturating["decoder"]) > 1e-2


# --- 5. the equilibrium gate ---

@pytest.mark.parametrize("frozen,equilibrium,margin", [
    ("discriminator", 100.0, 0.0),  # both cross-entropies below 100: Dis "too good", rests
    ("decoder", 1e-6, 0.0),         # both above 1e-6: Dis "too poor", Dec rests
])
def test_gate_freezes_one_network_and_the_encoder_still_moves(frozen, equilibrium, margin):
    model = _model(equilibrium=equilibrium, margin=margin)
    assert model.config.equilibrium_gate  # the default
    before = {n: [v.numpy() for v in m.trainable_variables] for n, m in model.networks.items()}
    logs = model.train_step(_images())
    skipped = {"discriminator": "skip_dis", "decoder": "skip_dec"}
    for net, m in model.networks.items():
        unchanged = all(np.array_equal(a, v.numpy()) for a, v in zip(before[net], m.trainable_variables))
        assert unchanged == (net == frozen), net
        if net in skipped:
            assert float(logs[skipped[net]]) == float(net == frozen), net


def test_gate_decides_on_the_eps_cross_entropies():
    eps = 0.5  # large: the ε cross-entropies lie well below the exact ones
    model = _model(gan_eps=eps)
    x = _images()
    with tf.GradientTape():
        with_eps = _reference(model, x, eps=eps)
        exact = _reference(model, x, eps=0.0)
    low = max(float(with_eps["real_ce"]), float(with_eps["fake_ce"]))
    high = min(float(exact["real_ce"]), float(exact["fake_ce"]))
    assert low < high
    # Centre between them, no margin: by the ε cross-entropies Dis is "too good" (rests, Dec
    # trains); by the exact ones it would be "too poor" (Dis trains, Dec rests).
    model = VAEGAN(tiny_config(gan_eps=eps, equilibrium=(low + high) / 2, margin=0.0))
    model.compile()
    logs = model.train_step(x)
    assert (float(logs["skip_dis"]), float(logs["skip_dec"])) == (1.0, 0.0)


# --- 9. Dec's batch statistics ---

@pytest.mark.parametrize("dec_batch", ["separate", "joint"])
def test_dec_batch(dec_batch):
    model = _model(dec_batch=dec_batch)
    x = _images()
    noise, z_p = _noise(model, x.shape[0])
    mean, log_var = model.encoder(x, training=True)
    z = mean + tf.exp(0.5 * log_var) * noise
    alone = model.decoder(z, training=True)
    prior_alone = model.decoder(z_p, training=True)
    joint_t, joint_p = tf.split(model.decoder(tf.concat([z, z_p], 0), training=True), 2)
    encoded = model.encode(x, None, training=True)
    generated = model.generate(encoded, None, x.shape[0], training=True)
    want = (alone, prior_alone) if dec_batch == "separate" else (joint_t, joint_p)
    other = joint_t if dec_batch == "separate" else alone
    np.testing.assert_allclose(encoded.z, z, rtol=1e-5, atol=1e-6)
    for got, expected in zip((generated["recon"], generated["prior"]), want):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(generated["recon"]) - np.asarray(other)).max() > 1e-4


@pytest.mark.parametrize("dec_batch", ["separate", "joint"])
def test_dec_batch_in_the_training_step(dec_batch):
    # x̃ as the losses see it: the step's reconstruction error against the reference's x̃.
    model = _model(dec_batch=dec_batch)
    x = _images()
    with tf.GradientTape():
        ref = _reference(model, x, dec=dec_batch)
        other = _reference(model, x, dec="joint" if dec_batch == "separate" else "separate")
    terms = model.forward(x, training=True)
    mse = lambda t: float(tf.reduce_mean(tf.square(x - t)))  # noqa: E731
    np.testing.assert_allclose(float(terms["recon_mse"]), mse(ref["x_tilde"]), rtol=1e-5)
    assert abs(mse(other["x_tilde"]) - mse(ref["x_tilde"])) > 1e-6
    np.testing.assert_allclose(float(terms["llike"]), float(ref["llike"]), rtol=1e-4)


@pytest.mark.parametrize("statistics", ["recon", "prior", "both"])
def test_dec_statistics_come_from_the_chosen_calls(statistics):
    # Dec's BN moving statistics (what samples and exports are drawn with) after one step: those
    # of the reference's own Dec calls on z, on z_p, or on z then z_p.
    model = _model(dec_statistics=statistics)
    x = _images()
    before = _moving(model.decoder)
    noise, z_p = _noise(model, x.shape[0])
    mean, log_var = model.encoder(x, training=True)
    z = mean + tf.exp(0.5 * log_var) * noise
    for codes in {"recon": [z], "prior": [z_p], "both": [z, z_p]}[statistics]:
        model.decoder(codes, training=True)
    expected = _moving(model.decoder)
    for v in model.decoder.non_trainable_variables:
        v.assign(before[v.path])
    model.train_step(x)
    after = _moving(model.decoder)
    for path, value in expected.items():
        assert not np.allclose(value, before[path]), path
        np.testing.assert_allclose(after[path], value, rtol=1e-5, atol=1e-6, err_msg=path)


# --- the whole recipe at once ---

def test_authors_defaults_against_the_reference():
    model = _model(gamma=0.5)
    x = _images()
    ref, _ = _reference_grads(model, x)
    grads = _model_grads(model, x)
    for net in ref:
        _close(grads[net], ref[net], net)


def test_paper_literal_against_the_reference():
    model = _model(gamma=0.5, **PAPER_LITERAL)
    x = _images()
    ref, _ = _reference_grads(model, x, passes="one", stop_target=False, dec="joint",
                              fakes=("recon", "prior"), form="non_saturating", eps=0.0, w=1 / 3)
    grads = _model_grads(model, x)
    for net in ref:
        _close(grads[net], ref[net], net)
