"""The forward pass of the five models, in the stages the fused step puts its tapes around
(encode, generate, judge), and the paper's equations it applies. VAEGAN (vaegan.py) inherits it.

judge computes every loss term of Eq. 9 for one batch; which exist depends on the model:
similarity features Dis_l (two passes as the authors, or one as the paper reads), the GAN's
logits on the real images and the fakes Config.gan_fakes selects, and the equilibrium gate.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from vaegan_tf.config import Config
from vaegan_tf.model import cross_replica, losses
from vaegan_tf.model.networks import Stem


def reparameterize(mean: tf.Tensor, log_var: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
    """z = μ + σ ⊙ ε with σ = exp(½ log σ²), ε ~ N(0, I): the reparameterisation trick (Eq. 1)."""
    return mean + tf.exp(0.5 * log_var) * eps


def equilibrium_gate(real_loss: tf.Tensor, fake_loss: tf.Tensor, equilibrium: float,
                     margin: float) -> tuple[tf.Tensor, tf.Tensor]:
    """(train_dis, train_dec) from Dis's real and fake cross-entropies (authors' code, not the paper).

    Dis is skipped while it is too good (either loss below equilibrium − margin), Dec while Dis is
    too poor (either above equilibrium + margin); when both would be skipped, both train.
    """
    train_dis = tf.logical_not((real_loss < equilibrium - margin) | (fake_loss < equilibrium - margin))
    train_dec = tf.logical_not((real_loss > equilibrium + margin) | (fake_loss > equilibrium + margin))
    neither = tf.logical_not(train_dis | train_dec)
    return train_dis | neither, train_dec | neither


def fake_kinds(config: Config) -> list[str]:
    """Which generated batches Dis is trained to reject: 'recon' = Dec(Enc(x)), 'prior' = Dec(z_p)."""
    if not config.trains_discriminator:
        return []
    if config.model == "gan":
        return ["prior"]
    return {"both": ["recon", "prior"], "recon": ["recon"], "prior": ["prior"]}[config.gan_fakes]


def all_finite(tensors) -> tf.Tensor:
    """True when no loss or gradient holds a NaN or an infinity."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors if t is not None])


@contextlib.contextmanager
def dtype_policy(name: str):
    """Layers built inside compute in `name`'s dtype (e.g. mixed_bfloat16) with float32 weights."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _f32(t: tf.Tensor) -> tf.Tensor:
    # Under a mixed policy the networks answer in bfloat16/float16; losses are taken in float32.
    return tf.cast(t, tf.float32)


class Encoded(NamedTuple):
    """Enc's output for a batch: q(z|x)'s parameters, a sample z, and L_prior."""
    mean: tf.Tensor
    log_var: tf.Tensor
    z: tf.Tensor
    prior: tf.Tensor


def _call_per_source(network, batches: dict, attributes, training: bool, joint: bool,
                     split_outputs: int = 0, frozen: tuple = ()) -> dict:
    """{source: network(batch)}, cast to float32: one call on the concatenated batches (joint: BN
    statistics shared) or one call per batch (each with its own statistics).

    attributes: y for a conditional network, else None. split_outputs: how many tensors the
    network returns (Dis: logits and features), 0 for one. frozen: sources whose separate call
    leaves the BN moving statistics alone (update_statistics=False).
    """
    cast = (lambda o: tuple(_f32(t) for t in o)) if split_outputs else _f32
    if not joint or len(batches) == 1:
        y = {} if attributes is None else {"attributes": attributes}
        return {k: cast(network(b, **y, training=training,
                                **({"update_statistics": False} if k in frozen else {})))
                for k, b in batches.items()}
    y = {} if attributes is None else {"attributes": tf.concat([attributes] * len(batches), 0)}
    # Dis takes the list and concatenates after each batch's stem (networks.Discriminator.call).
    inputs = list(batches.values()) if split_outputs else tf.concat(list(batches.values()), 0)
    out = network(inputs, **y, training=training)
    if not split_outputs:
        return dict(zip(batches, tf.split(_f32(out), len(batches))))
    parts = [tf.split(_f32(t), len(batches)) for t in out]
    return {k: tuple(p[i] for p in parts) for i, k in enumerate(batches)}


class ForwardPass:
    """The forward pass of VAEGAN (a mixin: it uses the model's networks, config and noise)."""

    def _conditioning(self, attributes):
        """y for the networks of a conditional model, None for an unconditional one."""
        return attributes if self.config.conditional else None

    def _y(self, attributes) -> dict[str, Any]:
        """The conditioning keyword for network calls: nothing for an unconditional model."""
        return {"attributes": attributes} if self.config.conditional else {}

    def call(self, images, attributes=None, training=False):
        """Reconstruction Dec(Enc(x)) with z = μ (for summaries and inference)."""
        mean, _ = self.encoder(images, **self._y(attributes), training=training)
        return self.decoder(mean, **self._y(attributes), training=training)

    # --- the forward pass, in the stages the fused step puts its tapes around ---

    def encode(self, images, attributes, training: bool) -> Encoded:
        """Enc(x) -> q(z|x), z = μ + σ ⊙ ε, and L_prior."""
        noise = self.noise if training else self.eval_noise
        mean, log_var = self.encoder(images, **self._y(attributes), training=training)
        mean, log_var = _f32(mean), _f32(log_var)
        z = reparameterize(mean, log_var, cross_replica.normal(tf.shape(mean), noise))
        return Encoded(mean, log_var, z, losses.kl_prior(mean, log_var))

    def generate(self, encoded: Encoded | None, attributes, batch, training: bool) -> dict:
        """Dec on z and z_p: {'recon': x̃ = Dec(z), 'prior': x_p = Dec(z_p)}, the ones that exist.

        --dec_batch=separate (authors) calls Dec once per code, each with its own BN statistics;
        joint calls it once on [z, z_p], so x̃ and x_p share them.
        """
        noise = self.noise if training else self.eval_noise
        codes = {}
        if encoded is not None:
            codes["recon"] = encoded.z
        if "prior" in self.fake_kinds:
            codes["prior"] = cross_replica.normal((batch, self.config.latent_dim), noise)
        keep = self.config.dec_statistics  # the calls that move the statistics inference uses
        frozen = tuple(s for s in codes if keep not in ("both", s)) if len(codes) > 1 else ()
        return _call_per_source(self.decoder, codes, self._conditioning(attributes), training,
                                joint=self.config.dec_batch == "joint", frozen=frozen)

    def judge(self, images, attributes, encoded: Encoded | None, generated: dict,
              training: bool) -> dict[str, tf.Tensor]:
        """Dis on the real and generated batches, and every loss term."""
        c = self.config
        terms: dict[str, tf.Tensor] = {}
        # --dis_passes=one: a single Dis pass gives both the logits and the features.
        one_pass = (self._discriminate(images, attributes, generated, training)
                    if c.dis_passes == "one" and self.discriminator is not None else None)
        real = images  # Dis's input for x; both of --dis_passes=two's passes share its stem
        if c.dis_passes == "two" and c.trains_discriminator and c.similarity == "disl":
            real = Stem(self.discriminator.stem(images))
        if encoded is not None:
            terms["prior"] = encoded.prior
            if c.similarity == "disl":
                target, recon = self._similarity_features(real, generated, training, one_pass)
                terms["llike"] = losses.gaussian_nll(target, recon)
            else:
                terms["llike"] = losses.gaussian_nll(images, generated["recon"])
            terms["enc_loss"] = terms["prior"] + terms["llike"]
            # Per-pixel MSE of Dec(z), z ~ q(z|x): comparable across models, unlike L_llike.
            terms["recon_mse"] = tf.reduce_mean(tf.square(images - generated["recon"]))

        if c.trains_discriminator:
            logits = one_pass[0] if one_pass else self._gan_logits(real, attributes, generated,
                                                                   training)
            fakes = [logits[k] for k in self.fake_kinds]
            w, eps = c.real_vs_gen_weight, c.gan_eps
            terms["gan_dec"] = losses.gan_generator_loss(logits["real"], fakes, c.gan_loss, w, eps)
            terms["dis_loss"] = losses.gan_discriminator_loss(logits["real"], fakes, w, eps)
            terms["dec_loss"] = terms["gan_dec"] + (c.gamma * terms["llike"] if "llike" in terms else 0.0)
            for k in ["real"] + self.fake_kinds:
                terms[f"d_{k}"] = tf.reduce_mean(tf.sigmoid(logits[k]))
            if c.equilibrium_gate:
                # Over the global batch, so every replica takes the same decision.
                real_ce = cross_replica.mean(tf.reduce_mean(losses.cross_entropy(logits["real"], True, eps)))
                fake_ce = cross_replica.mean(tf.add_n(
                    [tf.reduce_mean(losses.cross_entropy(l, False, eps)) for l in fakes]) / len(fakes))
                terms["train_dis"], terms["train_dec"] = equilibrium_gate(
                    real_ce, fake_ce, c.equilibrium, c.margin)
        else:
            terms["dec_loss"] = terms["llike"]
        return terms

    def _similarity_features(self, images, generated, training, one_pass=None):
        """(Dis_l(x), Dis_l(x̃)): the target and the prediction of L_llike^Dis_l.

        --dis_passes=two (authors): Dis's layers up to Dis_l only, on [x̃, x], in training mode
        without touching BN's moving statistics; the pass never updates Dis (only L_GAN^Dis
        reaches Dis's gradient). one: the features of the single pass `one_pass` (logits, features).
        --llike_stop_target: Dis_l(x) is a constant, so L_llike reaches Enc and Dec only through
        Dis_l(x̃) (with joint BN statistics Dis_l(x) would otherwise depend on x̃ too).
        """
        c = self.config
        if one_pass is not None:
            features = one_pass[1]
        else:
            # Authors' order [x̃, x]; the order within a joint BN batch changes nothing. Joint
            # statistics as a list, not a concatenation: ∂L_llike/∂x̃ alone is back-propagated.
            dis_l = functools.partial(self.discriminator.features, update_statistics=False,
                                      training=training and c.trains_discriminator)
            batches = [generated["recon"], images]
            out = dis_l(batches) if c.dis_batch == "joint" else [dis_l(b) for b in batches]
            features = dict(zip(("recon", "real"), (_f32(t) for t in out)))
        target = features["real"]
        return (tf.stop_gradient(target) if c.llike_stop_target else target), features["recon"]

    def _gan_logits(self, images, attributes, generated, training):
        """--dis_passes=two: Dis's logits on x and on each kind of fake it is trained to reject."""
        batches = {"real": images, **{k: generated[k] for k in self.fake_kinds}}
        return self._dis_call(batches, attributes, training)[0]

    def _discriminate(self, images, attributes, generated, training):
        """--dis_passes=one: Dis's logits and Dis_l features of x and every generated batch."""
        c = self.config
        sources = ["real"] + [k for k in ("recon", "prior")
                              if k in self.fake_kinds or (k == "recon" and c.similarity == "disl")]
        batches = {"real": images, **generated}
        return self._dis_call({k: batches[k] for k in sources}, attributes, training)

    def _dis_call(self, batches: dict, attributes, training):
        """({source: logits}, {source: Dis_l features}) from one Dis pass over `batches`."""
        training = training and self.config.trains_discriminator
        outputs = _call_per_source(self.discriminator, batches, self._conditioning(attributes),
                                   training, joint=self.config.dis_batch == "joint", split_outputs=2)
        return ({k: out[0] for k, out in outputs.items()}, {k: out[1] for k, out in outputs.items()})

    def forward(self, images: tf.Tensor, training: bool = False,
                attributes: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """Every loss term for one batch, from one pass through the networks."""
        encoded = self.encode(images, attributes, training) if self.encoder is not None else None
        generated = self.generate(encoded, attributes, tf.shape(images)[0], training)
        return self.judge(images, attributes, encoded, generated, training)
