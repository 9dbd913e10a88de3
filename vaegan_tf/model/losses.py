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


def cross_entropy(logits: tf.Tensor, real: bool, eps: float = 0.0) -> tf.Tensor:
    """Per-example −log(D + ε) (real) or −log(1 − D + ε) (generated), D = sigmoid(logits).

    ε = 0 is the exact cross-entropy (softplus). The authors' code adds ε = 1e-3 inside the log,
    which bounds each term by −log ε ≈ 6.9 and flattens its gradient once Dis is confident.
    """
    if not eps:
        return tf.nn.softplus(-logits if real else logits)
    d = tf.sigmoid(logits)
    return -tf.math.log((d if real else 1.0 - d) + eps)


def gan_discriminator_loss(real_logits: tf.Tensor, fake_logits: Sequence[tf.Tensor],
                           real_weight: float = 0.5, eps: float = 0.0) -> tf.Tensor:
    """−L_GAN, Dis's weighted cross-entropy, which Dis minimises (Eq. 10, authors' weighting):

        L_GAN^Dis = w · E_x[−log(D(x) + ε)] + (1 − w) · mean_f E[−log(1 − D(f) + ε)]

    `fake_logits` holds one tensor per kind of fake (Dec(Enc(x)) and/or Dec(z_p)); w is the
    authors' real_vs_gen_weight. With w = 1/(1 + n_fakes) and ε = 0 this is Eq. 10's sum
    divided by 1 + n_fakes (the paper read literally, up to a constant factor).
    """
    fake = tf.add_n([tf.reduce_mean(cross_entropy(l, False, eps)) for l in fake_logits])
    return (real_weight * tf.reduce_mean(cross_entropy(real_logits, True, eps))
            + (1.0 - real_weight) * fake / len(fake_logits))


def generator_per_discriminator(real_weight: float, num_fakes: int) -> float:
    """k with L_GAN^Dec = k · L_GAN^Dis for the saturating form: −n_fakes / (1 − w).

    The authors' Dec ascends Dis's weighted loss with the weights divided back out at the fakes
    (model/aegan.py: ScaleGradient(1/weights) on Dis's input), i.e. each fake's log(1 − D + ε) with
    weight 1, summed over the fakes and averaged over the batch B.
    """
    return -num_fakes / (1.0 - real_weight)


def gan_generator_loss(real_logits: tf.Tensor, fake_logits: Sequence[tf.Tensor],
                       form: str = "saturating", real_weight: float = 0.5,
                       eps: float = 0.0) -> tf.Tensor:
    """Dec's GAN term, the part of its Eq. 9 loss that it descends.

    saturating:     k · L_GAN^Dis (k = generator_per_discriminator), "−L_GAN" of Eq. 9: for one
                    kind of fake and w = ½, E[log(1 − D(f) + ε)] + E[log(D(x) + ε)]. The
                    log D(x) term is kept: with Dis's BatchNorm sharing batch statistics between
                    real and fake images, D(x) does depend on Dec.
    non_saturating: Σ_f E[−log(D(f) + ε)]: same fixed point, strong gradients while Dis rejects the
                    fakes (Goodfellow et al. 2014, Sec. 3); `real_logits` is unused.
    """
    if form == "saturating":
        k = generator_per_discriminator(real_weight, len(fake_logits))
        return k * gan_discriminator_loss(real_logits, fake_logits, real_weight, eps)
    if form == "non_saturating":
        return tf.add_n([tf.reduce_mean(cross_entropy(l, True, eps)) for l in fake_logits])
    raise ValueError(f"unknown GAN loss form {form!r}")
