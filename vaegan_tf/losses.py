"""The paper's loss terms as pure functions of tensors.

Reduction, everywhere: summed over the dimensions of one example (as in a log-likelihood), averaged
over the batch. So γ keeps the meaning it has in the authors' code, where losses are sums per image.
Discriminator outputs are logits; sigmoid cross-entropies are written with softplus, which is exact
and stays finite where log(sigmoid(l)) would underflow:
    -log D(x) = softplus(-l),   -log(1 - D(x)) = softplus(l),   D = sigmoid(l).

Sign convention. The paper writes L_GAN = log D(x) + log(1 - D(Dec(z))) + log(1 - D(Dec(z_p))),
which Dis ascends and Dec descends. Here `gan_discriminator_loss` is its negation, the
discriminator's cross-entropy, which Dis *descends*; Eq. 9's Dec update −∇(γ·L_llike − L_GAN)
becomes "Dec descends γ·L_llike + gan_generator_loss".
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def _sum_per_example(t: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)


def kl_prior(mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """L_prior = KL(q(z|x) ‖ N(0, I)) = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²)  (paper Eq. 2).

    mean, log_var: [B, latent]. Summed over latent dimensions, averaged over the batch.
    """
    kl = -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mean) - tf.exp(log_var), axis=-1)
    return tf.reduce_mean(kl)


def gaussian_nll(target: tf.Tensor, reconstruction: tf.Tensor) -> tf.Tensor:
    """L_llike = −log N(target | reconstruction, I) + const = ½ Σ (target − reconstruction)²  (Eq. 8).

    With Dis_l features as arguments this is L_llike^Dis_l, the paper's learned similarity; with
    pixels it is the plain VAE's Gaussian reconstruction term. Summed over all non-batch
    dimensions, averaged over the batch.
    """
    return tf.reduce_mean(0.5 * _sum_per_example(tf.square(target - reconstruction)))


def gan_discriminator_loss(real_logits: tf.Tensor, fake_logits: Sequence[tf.Tensor]) -> tf.Tensor:
    """−L_GAN = −[log D(x) + Σ_f log(1 − D(f))]: Dis's cross-entropy, which Dis minimises (Eq. 10).

    `fake_logits` holds one logit tensor per kind of fake (Dec(Enc(x)) and/or Dec(z_p)); each term
    is averaged over its batch, and the terms are summed, as Eq. 10 sums them.
    """
    loss = tf.reduce_mean(tf.nn.softplus(-real_logits))
    for logits in fake_logits:
        loss += tf.reduce_mean(tf.nn.softplus(logits))
    return loss


def gan_generator_loss(real_logits: tf.Tensor, fake_logits: Sequence[tf.Tensor],
                       form: str = "non_saturating") -> tf.Tensor:
    """Dec's GAN term, the part of its Eq. 9 loss that it descends.

    saturating:     −(Dis's cross-entropy) = log D(x) + Σ_f log(1 − D(f)): exactly "−L_GAN" of
                    Eq. 9. The log D(x) term is kept: with Dis's BatchNorm sharing batch statistics
                    between real and fake images, D(x) does depend on Dec.
    non_saturating: Σ_f −log D(f): same fixed point, strong gradients while Dis rejects the fakes
                    (Goodfellow et al. 2014, Sec. 3); `real_logits` is unused.
    Each term averaged over its batch, terms summed.
    """
    if form == "saturating":
        return -gan_discriminator_loss(real_logits, fake_logits)
    if form == "non_saturating":
        return tf.add_n([tf.reduce_mean(tf.nn.softplus(-l)) for l in fake_logits])
    raise ValueError(f"unknown GAN loss form {form!r}")
