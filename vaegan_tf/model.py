"""VAEGAN: the paper's five models behind one Keras model with a three-tape train_step.

One forward pass is recorded by three GradientTapes, one per network, and each tape
differentiates only its own network's loss (Algorithm 1 / Eq. 9):
    Enc ← ∇(L_prior + L_llike)        no GAN gradient reaches the encoder
    Dec ← ∇(γ·L_llike + L_GAN^Dec)    see losses.py for the sign convention
    Dis ← ∇(L_GAN^Dis)                Dis never minimises L_llike (it would collapse Dis_l to 0)

The models differ only in which terms exist (Config.similarity, uses_encoder, ...):
    vaegan       L_llike on Dis_l features; GAN with the fakes Config.gan_fakes selects
    vae          L_llike on pixels; no Dis; Dec ← L_llike (the usual VAE)
    vae_disl     L_llike on the Dis_l of a frozen, earlier-trained Dis; no GAN
    vaegan_dis0  L_llike on pixels plus the GAN
    gan          no Enc, no L_llike; Dec(z_p) is the only fake
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import tensorflow as tf

from vaegan_tf import losses
from vaegan_tf.config import Config
from vaegan_tf.networks import build_networks


LOSS_OF = {"encoder": "enc_loss", "decoder": "dec_loss", "discriminator": "dis_loss"}
GATE_OF = {"discriminator": "train_dis", "decoder": "train_dec"}


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


def _metric_names(config: Config) -> list[str]:
    names = []
    if config.uses_encoder:
        names += ["prior", "llike", "enc_loss", "recon_mse"]
    names += ["dec_loss", "nonfinite"]
    if config.trains_discriminator:
        names += ["gan_dec", "dis_loss", "d_real"]
        names += [f"d_{fake}" for fake in _fake_kinds(config)]
        if config.equilibrium_gate:
            names += ["skip_dis", "skip_dec"]
    return names


def _fake_kinds(config: Config) -> list[str]:
    """Which generated batches Dis is trained to reject: 'recon' = Dec(Enc(x)), 'prior' = Dec(z_p)."""
    if not config.trains_discriminator:
        return []
    if config.model == "gan":
        return ["prior"]
    return {"both": ["recon", "prior"], "recon": ["recon"], "prior": ["prior"]}[config.gan_fakes]


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The configured learning rate times a variable factor the divergence guard can lower."""

    def __init__(self, base: Any, scale: tf.Variable):
        self.base, self.scale = base, scale

    def __call__(self, step):
        base = self.base(step) if callable(self.base) else self.base
        return self.scale * tf.cast(base, self.scale.dtype)

    def get_config(self):
        return {"base": self.base, "scale": float(self.scale.numpy())}


def default_optimizer(config: Config, lr_scale: tf.Variable) -> keras.optimizers.Optimizer:
    lr: Any = config.learning_rate
    if config.lr_schedule == "polynomial":
        lr = keras.optimizers.schedules.PolynomialDecay(lr, config.train_steps, end_learning_rate=0.0)
    return keras.optimizers.RMSprop(learning_rate=ScaledSchedule(lr, lr_scale), rho=config.rmsprop_rho,
                                    weight_decay=config.weight_decay or None)


def all_finite(tensors) -> tf.Tensor:
    """True when no loss or gradient holds a NaN or an infinity."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors if t is not None])


class VAEGAN(keras.Model):
    """The paper's model; `config.model` selects which of the five variants it trains."""

    def __init__(self, config: Config, **kwargs):
        super().__init__(name=kwargs.pop("name", config.model), **kwargs)
        self.config = config
        nets = build_networks(config)
        self.encoder = nets.get("encoder")
        self.decoder = nets["decoder"]
        self.discriminator = nets.get("discriminator")
        if self.discriminator is not None and not config.trains_discriminator:
            self.discriminator.trainable = False  # vae_disl: a fixed similarity metric
        self.fake_kinds = _fake_kinds(config)
        self.noise = keras.random.SeedGenerator(config.seed, name="noise")
        # Validation draws its own noise, so how often it runs never changes training's draws
        # (a resumed run must see the same noise as an uninterrupted one).
        self.eval_noise = keras.random.SeedGenerator(config.seed + 1, name="eval_noise")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Divergence guard state: the learning-rate factor, and non-finite steps seen in a row
        # (the longest run since the guard last looked), kept on the device so no step syncs.
        self.lr_scale = tf.Variable(1.0, trainable=False, name="lr_scale")
        self.bad_streak = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_streak")
        self.worst_streak = tf.Variable(0, dtype=tf.int64, trainable=False, name="worst_streak")
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in _metric_names(config)}

    @property
    def networks(self) -> dict[str, keras.Model]:
        return {n: m for n, m in (("encoder", self.encoder), ("decoder", self.decoder),
                                  ("discriminator", self.discriminator)) if m is not None}

    @property
    def trained_networks(self) -> list[str]:
        names = ["encoder", "decoder"] if self.encoder is not None else ["decoder"]
        return names + (["discriminator"] if self.config.trains_discriminator else [])

    def compile(self, optimizers: dict[str, keras.optimizers.Optimizer] | None = None, **kwargs):
        """`optimizers` maps each trained network's name to its own optimizer (default: RMSProp).

        Only the default optimizers follow `lr_scale`, which the divergence guard lowers; pass a
        ScaledSchedule(rate, model.lr_scale) as a custom optimizer's learning rate to keep that.
        """
        super().compile(**kwargs)
        optimizers = dict(optimizers or {})
        unknown = set(optimizers) - set(self.trained_networks)
        if unknown:
            raise ValueError(f"no trained network named {sorted(unknown)}; have {self.trained_networks}")
        self.optimizers = {n: optimizers.get(n) or default_optimizer(self.config, self.lr_scale)
                           for n in self.trained_networks}
        for name, opt in self.optimizers.items():
            # Built up front so checkpoints can restore slots before the first step.
            opt.build(self.networks[name].trainable_variables)

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    def call(self, images, training=False):
        """Reconstruction Dec(Enc(x)) with z = μ (for summaries and inference)."""
        mean, _ = self.encoder(images, training=training)
        return self.decoder(mean, training=training)

    # --- the forward pass shared by train_step and test_step ---

    def forward(self, images: tf.Tensor, training: bool) -> dict[str, tf.Tensor]:
        """Every loss term for one batch, from one pass through the networks."""
        c = self.config
        noise = self.noise if training else self.eval_noise
        batch = tf.shape(images)[0]
        terms: dict[str, tf.Tensor] = {}
        codes, generated = [], {}
        if self.encoder is not None:
            mean, log_var = self.encoder(images, training=training)
            eps = keras.random.normal(tf.shape(mean), seed=noise)
            codes.append(reparameterize(mean, log_var, eps))
            terms["prior"] = losses.kl_prior(mean, log_var)
        if "prior" in self.fake_kinds:
            codes.append(keras.random.normal((batch, c.latent_dim), seed=noise))
        # One Dec call on [z, z_p] (and one Dis call below) so both share BN batch statistics.
        decoded = tf.split(self.decoder(tf.concat(codes, 0), training=training), len(codes))
        if self.encoder is not None:
            generated["recon"] = decoded[0]
        if "prior" in self.fake_kinds:
            generated["prior"] = decoded[-1]

        if self.discriminator is not None:
            dis_inputs = ["real"] + [k for k in ("recon", "prior")
                                     if k in self.fake_kinds or (k == "recon" and c.similarity == "disl")]
            batches = {"real": images, **generated}
            dis_training = training and c.trains_discriminator
            if c.dis_batch == "joint":  # one call: BN statistics shared, as in the authors' code
                logits, features = self.discriminator(
                    tf.concat([batches[k] for k in dis_inputs], 0), training=dis_training)
                logits = dict(zip(dis_inputs, tf.split(logits, len(dis_inputs))))
                features = dict(zip(dis_inputs, tf.split(features, len(dis_inputs))))
            else:  # one call per source: BN statistics never mix real and generated images
                outputs = {k: self.discriminator(batches[k], training=dis_training) for k in dis_inputs}
                logits = {k: out[0] for k, out in outputs.items()}
                features = {k: out[1] for k, out in outputs.items()}

        if self.encoder is not None:
            if c.similarity == "disl":
                terms["llike"] = losses.gaussian_nll(features["real"], features["recon"])
            else:
                terms["llike"] = losses.gaussian_nll(images, generated["recon"])
            terms["enc_loss"] = terms["prior"] + terms["llike"]
            # Per-pixel MSE of Dec(z), z ~ q(z|x): comparable across models, unlike L_llike.
            terms["recon_mse"] = tf.reduce_mean(tf.square(images - generated["recon"]))

        if c.trains_discriminator:
            fakes = [logits[k] for k in self.fake_kinds]
            terms["gan_dec"] = losses.gan_generator_loss(logits["real"], fakes, c.gan_loss)
            terms["dis_loss"] = losses.gan_discriminator_loss(logits["real"], fakes)
            terms["dec_loss"] = terms["gan_dec"] + (c.gamma * terms["llike"] if "llike" in terms else 0.0)
            for k in ["real"] + self.fake_kinds:
                terms[f"d_{k}"] = tf.reduce_mean(tf.sigmoid(logits[k]))
            if c.equilibrium_gate:
                real_ce = tf.reduce_mean(tf.nn.softplus(-logits["real"]))
                fake_ce = tf.add_n([tf.reduce_mean(tf.nn.softplus(l)) for l in fakes]) / len(fakes)
                terms["train_dis"], terms["train_dec"] = equilibrium_gate(
                    real_ce, fake_ce, c.equilibrium, c.margin)
        else:
            terms["dec_loss"] = terms["llike"]
        return terms

    def _unpack(self, data):
        return data[0] if isinstance(data, (tuple, list)) else data

    def gradients(self, images: tf.Tensor) -> tuple[dict[str, tf.Tensor], dict[str, list]]:
        """One forward pass under one tape per trained network; each tape differentiates only its
        own network's loss, which is how the updates are masked (Algorithm 1)."""
        nets = self.trained_networks
        with contextlib.ExitStack() as stack:
            tapes = {n: stack.enter_context(tf.GradientTape()) for n in nets}
            terms = self.forward(images, training=True)
        grads = {n: tapes[n].gradient(terms[LOSS_OF[n]], self.networks[n].trainable_variables)
                 for n in nets}
        return terms, grads

    def train_step(self, data):
        terms, grads = self.gradients(self._unpack(data))
        # A step with a NaN or infinity anywhere is not applied to any network: one bad batch must
        # not poison the weights (the divergence guard handles runs of them).
        finite = all_finite([terms[LOSS_OF[n]] for n in grads] + [g for gs in grads.values() for g in gs])
        tf.cond(finite, lambda: self._apply_all(terms, grads), lambda: tf.constant(False))
        self.bad_streak.assign(tf.where(finite, tf.zeros_like(self.bad_streak), self.bad_streak + 1))
        self.worst_streak.assign(tf.maximum(self.worst_streak, self.bad_streak))
        terms["nonfinite"] = 1.0 - tf.cast(finite, tf.float32)
        if "train_dis" in terms:
            terms["skip_dis"] = 1.0 - tf.cast(terms["train_dis"], tf.float32)
            terms["skip_dec"] = 1.0 - tf.cast(terms["train_dec"], tf.float32)
        self.step.assign_add(1)
        return self._update_metrics(terms)

    def _apply_all(self, terms, grads):
        for name, g in grads.items():
            optimizer, variables = self.optimizers[name], self.networks[name].trainable_variables
            gate = GATE_OF.get(name)
            if gate in terms:
                tf.cond(terms[gate], lambda o=optimizer, g=g, v=variables: _apply(o, g, v),
                        lambda: tf.constant(False))
            else:
                optimizer.apply_gradients(zip(g, variables))
        return tf.constant(True)

    def test_step(self, data):
        return self._update_metrics(self.forward(self._unpack(data), training=False))

    def _update_metrics(self, terms):
        reported = {n: t for n, t in self.loss_trackers.items() if n in terms}
        for name, tracker in reported.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in reported.items()}


def _apply(optimizer, grads, variables):
    optimizer.apply_gradients(zip(grads, variables))
    return tf.constant(True)
