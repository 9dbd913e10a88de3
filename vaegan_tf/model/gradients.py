"""The gradients of one training step, two ways that compute the same numbers (--gradients).

Both return (terms, {network: gradient list}) where each network's gradient is that of its own
loss times `scales[network]` (Algorithm 1 / Eq. 9):
    encoder        L_prior + L_llike
    decoder        γ·L_llike + L_GAN^Dec   (L_llike alone without a GAN)
    discriminator  L_GAN^Dis

three_tape: the forward pass under one tape per network; each tape back-propagates its own loss
    through everything between the loss and its network. Simple, and the reference.

fused: one tape per stage (Enc, Dec, Dis+losses). Each independent cotangent crosses each
    stage once, and only the batches that need it (flops.py counts exactly this as the recipe's
    least work; the traced step executes it):
      c_dis   = ∂L_GAN^Dis at Dis's outputs: Dis's weight gradients. Under the saturating form
                L_GAN^Dec = k·L_GAN^Dis, so the same pass, asked for the fakes too, gives Dec's
                GAN cotangent; the non-saturating form needs a pass of its own.
      c_llike = ∂L_llike at the generated images: Enc's through Dec, and Dec's times γ.
      Dec: where Dec's cotangent γ·c_llike + c_gan is parallel to Enc's c_llike on every batch
      that depends on z (no GAN cotangent at x̃, separate Dec calls: the authors' recipe), one
      backward pass through Dec on z gives ∂L_llike/∂z and, times γ, that batch's share of Dec's
      weight gradients; otherwise the two take a pass each. Enc: its weight gradients for
      (L_prior, ∂L_llike/∂z).
    What keeps other batches out of a pass is in the forward (model.judge, networks.py): the
    similarity pass convolves x̃ and x one by one (joint BN statistics only), so c_llike is not
    back-propagated to x; x's layers before Dis's first BN run once for both passes.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf

from vaegan_tf.model import losses

LOSS_OF = {"encoder": "enc_loss", "decoder": "dec_loss", "discriminator": "dis_loss"}


def three_tape(model, images, attributes, scales):
    nets = model.trained_networks
    with contextlib.ExitStack() as stack:
        tapes = {n: stack.enter_context(tf.GradientTape()) for n in nets}
        terms = model.forward(images, training=True, attributes=attributes)
        losses = {n: scales[n] * terms[LOSS_OF[n]] for n in nets}
    grads = {n: tapes[n].gradient(losses[n], model.networks[n].trainable_variables) for n in nets}
    return terms, grads


def _or_zeros(grads, like):
    return [tf.zeros_like(t) if g is None else g for g, t in zip(grads, like)]


def fused(model, images, attributes, scales):
    c = model.config
    encoded = None
    if model.encoder is not None:
        with tf.GradientTape() as enc_tape:
            encoded = model.encode(images, attributes, training=True)
    with tf.GradientTape(persistent=True) as dec_tape:
        if encoded is not None:
            dec_tape.watch(encoded.z)
        generated = model.generate(encoded, attributes, tf.shape(images)[0], training=True)
    fakes = list(generated.values())
    with tf.GradientTape(persistent=True) as dis_tape:
        dis_tape.watch(fakes)
        terms = model.judge(images, attributes, encoded, generated, training=True)
        has_gan, has_llike = c.trains_discriminator, "llike" in terms
        llike_scale = scales["encoder" if encoded is not None else "decoder"]
        targets = {}
        if has_gan:
            targets["dis"] = scales["discriminator"] * terms["dis_loss"]
            targets["gan"] = scales["decoder"] * terms["gan_dec"]
        if has_llike:
            targets["llike"] = llike_scale * terms["llike"]

    # Each fake's cotangents, None where it is structurally zero (no path from the loss).
    gan, llike = [None] * len(fakes), [None] * len(fakes)
    grads = {}
    if has_gan:
        dis_vars = model.discriminator.trainable_variables
        shared = c.gan_loss == "saturating"  # gan_dec = k·dis_loss (losses.gan_generator_loss)
        out = dis_tape.gradient(targets["dis"], dis_vars + (fakes if shared else []))
        grads["discriminator"] = out[:len(dis_vars)]
        if shared:
            k = losses.generator_per_discriminator(c.real_vs_gen_weight, len(model.fake_kinds))
            ratio = k * scales["decoder"] / scales["discriminator"]
            gan = [None if g is None else ratio * g for g in out[len(dis_vars):]]
        else:
            gan = dis_tape.gradient(targets["gan"], fakes)
    weight = 1.0
    if has_llike:
        llike = dis_tape.gradient(targets["llike"], fakes)
        weight = (c.gamma if has_gan else 1.0) * scales["decoder"] / llike_scale
    del dis_tape
    grads["decoder"], dz = _decoder_backward(model, dec_tape, fakes, gan, llike, weight,
                                             encoded)
    del dec_tape
    if encoded is not None:
        # The tape recorded L_prior, not its scaled value: the scale enters as its cotangent.
        grads["encoder"] = enc_tape.gradient(
            [encoded.prior, encoded.z], model.encoder.trainable_variables,
            output_gradients=[scales["encoder"] * tf.ones_like(encoded.prior), dz])
    return terms, grads


def _decoder_backward(model, dec_tape, fakes, gan, llike, weight, encoded):
    """(Dec's weight gradients, ∂L_llike/∂z or None) from the cotangents at the fakes.

    Dec's cotangent is gan + weight·llike, the encoder's llike. On every fake that depends on z
    (x̃; all of them when one joint Dec call couples them through BN) where gan is zero, the
    two are parallel: one backward pass with llike gives ∂L_llike/∂z and, times weight, that
    fake's share of Dec's weight gradients. Otherwise the two are independent vectors and take
    a backward pass each. Each fake's pass runs only through the Dec call that made it.
    """
    dec_vars = model.decoder.trainable_variables
    combined = [_add(g, None if l is None else weight * l) for g, l in zip(gan, llike)]
    if encoded is None:
        return _backward(dec_tape, fakes, dec_vars, combined), None
    joint = model.config.dec_batch == "joint" and len(fakes) > 1
    coded = list(range(len(fakes))) if joint else [0]  # generate(): x̃ comes first
    if any(gan[i] is not None for i in coded):
        grads = _backward(dec_tape, fakes, dec_vars, combined)
        dz = dec_tape.gradient(fakes, encoded.z, output_gradients=_or_zeros(llike, fakes))
        return grads, dz
    out = dec_tape.gradient([fakes[i] for i in coded], dec_vars + [encoded.z],
                            output_gradients=_or_zeros([llike[i] for i in coded],
                                                       [fakes[i] for i in coded]))
    grads = [weight * g for g in _or_zeros(out[:-1], dec_vars)]
    rest = [i for i in range(len(fakes)) if i not in coded and combined[i] is not None]
    if rest:
        more = _backward(dec_tape, [fakes[i] for i in rest], dec_vars, [combined[i] for i in rest])
        grads = [g + m for g, m in zip(grads, more)]
    return grads, out[-1]


def _add(a, b):
    return a if b is None else b if a is None else a + b


def _backward(tape, targets, variables, cotangents):
    """Weight gradients for cotangents at `targets`, leaving out those that are None."""
    pairs = [(t, c) for t, c in zip(targets, cotangents) if c is not None]
    if not pairs:
        return [tf.zeros_like(v) for v in variables]
    return _or_zeros(tape.gradient([t for t, _ in pairs], variables,
                                   output_gradients=[c for _, c in pairs]), variables)


WAYS = {"fused": fused, "three_tape": three_tape}  # by --gradients
