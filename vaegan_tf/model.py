"""VAEGAN: the paper's five models behind one Keras model with a three-tape train_step.

One forward pass, and each network's gradient comes from its own loss only (Algorithm 1 / Eq. 9):
    Enc ← ∇(L_prior + L_llike)        no GAN gradient reaches the encoder
    Dec ← ∇(γ·L_llike + L_GAN^Dec)    see losses.py for the sign convention
    Dis ← ∇(L_GAN^Dis)                Dis never minimises L_llike (it would collapse Dis_l to 0)

The models differ only in which terms exist (Config.similarity, uses_encoder, ...):
    vaegan       L_llike on Dis_l features; GAN with the fakes Config.gan_fakes selects
    vae          L_llike on pixels; no Dis; Dec ← L_llike (the usual VAE)
    vae_disl     L_llike on the Dis_l of a frozen, earlier-trained Dis; no GAN
    vaegan_dis0  L_llike on pixels plus the GAN
    gan          no Enc, no L_llike; Dec(z_p) is the only fake

How the gradients are computed (steps.py, --step): `three_tape` records the forward pass on one
tape per network; `fused` (default) records each network's stage on its own tape and hands the
cotangents at x̃ and z on with output_gradients, which computes the same numbers with less work.
With --conditional every network also receives the attribute vector y (Sec 4.2; networks.py).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from vaegan_tf import cross_replica, losses, optim, steps
from vaegan_tf.config import Config
from vaegan_tf.networks import Stem, build_networks


LOSS_OF = steps.LOSS_OF
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
        names += [f"d_{fake}" for fake in fake_kinds(config)]
        if config.equilibrium_gate:
            names += ["skip_dis", "skip_dec"]
    return names


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


def _counter(name: str, dtype=tf.int64) -> tf.Variable:
    # Updated inside the step: under a tf.distribute strategy every replica computes the same
    # value, and the first replica's is kept.
    return tf.Variable(tf.zeros((), dtype), trainable=False, name=name,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


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


@keras.saving.register_keras_serializable(package="vaegan_tf")
class VAEGAN(keras.Model):
    """The paper's model; `config.model` selects which of the five variants it trains.

    `model.save("x.keras")` / `keras.models.load_model("x.keras")` round-trip it: its Keras config
    is its Config (and the step it was saved at), which rebuilds the same networks; the weights and
    BN statistics follow in the archive.
    """

    def __init__(self, config: Config, **kwargs):
        super().__init__(name=kwargs.pop("name", config.model), **kwargs)
        self.config = config
        with dtype_policy(config.compute_precision):
            nets = build_networks(config)
        self.encoder = nets.get("encoder")
        self.decoder = nets["decoder"]
        self.discriminator = nets.get("discriminator")
        if self.discriminator is not None and not config.trains_discriminator:
            self.discriminator.trainable = False  # vae_disl: a fixed similarity metric
        self.fake_kinds = fake_kinds(config)
        self.noise = keras.random.SeedGenerator(config.seed, name="noise")
        # Validation draws its own noise, so how often it runs never changes training's draws
        # (a resumed run must see the same noise as an uninterrupted one), and every pass starts
        # it afresh (evaluate), so a pass's draws do not depend on the passes before it either.
        self.eval_noise = keras.random.SeedGenerator(config.seed + 1, name="eval_noise")
        self._eval_noise_start = self.eval_noise.state.numpy()
        self.step = _counter("step")
        # Divergence guard state: the learning-rate factor, and non-finite steps seen in a row
        # (the longest run since the guard last looked), kept on the device so no step syncs.
        self.lr_scale = tf.Variable(1.0, trainable=False, name="lr_scale")
        self.bad_streak = _counter("bad_streak")
        self.worst_streak = _counter("worst_streak")
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in _metric_names(config)}
        self.built = True  # every variable exists (build_networks); nothing is built on first call

    def get_config(self):
        return {"name": self.name, "config": self.config.to_dict(), "step": int(self.step.numpy())}

    @classmethod
    def from_config(cls, config):
        model = cls(Config.from_dict(config["config"]), name=config.get("name"))
        model.step.assign(config.get("step", 0))
        return model

    def get_compile_config(self):
        # compile() has no settings beyond the default optimizers (Keras skips an empty dict).
        return {"optimizers": "default"} if self.compiled else None

    def compile_from_config(self, config):
        self.compile()  # default optimizers, fresh: their slots are in checkpoints, not .keras

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
        optim.ScaledSchedule(rate, model.lr_scale) as a custom optimizer's learning rate to keep that.
        Under --precision=mixed_float16 each optimizer gets its own dynamic loss scale.
        """
        kwargs.setdefault("jit_compile", self.config.jit_compile)
        super().compile(**kwargs)
        optimizers = dict(optimizers or {})
        unknown = set(optimizers) - set(self.trained_networks)
        if unknown:
            raise ValueError(f"no trained network named {sorted(unknown)}; have {self.trained_networks}")
        self.optimizers = {n: optimizers.get(n) or optim.default_optimizer(
                               self.config, self.lr_scale, self.step) for n in self.trained_networks}
        if self.config.compute_precision == "mixed_float16":
            self.optimizers = {n: o if isinstance(o, keras.optimizers.LossScaleOptimizer)
                               else keras.optimizers.LossScaleOptimizer(o)
                               for n, o in self.optimizers.items()}
        for name, opt in self.optimizers.items():
            # Built up front so checkpoints can restore slots before the first step.
            opt.build(self.networks[name].trainable_variables)

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

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

    def _unpack(self, data):
        """(images, attributes or None) from a dataset element."""
        if isinstance(data, (tuple, list)):
            return data[0], (tf.cast(data[1], tf.float32) if self.config.conditional else None)
        if self.config.conditional:
            raise ValueError("a conditional model needs (images, attributes) batches")
        return data, None

    def loss_scales(self) -> dict[str, tf.Tensor]:
        """The factor on each network's loss before differentiation.

        1/replicas: each replica's losses are means over its share of the batch and the
        optimizers sum gradients over replicas, so this gives the global batch's mean. Times
        the dynamic loss scale under mixed_float16 (the optimizer divides it out again).
        """
        replicas = float(cross_replica.num_replicas())
        return {n: (tf.identity(o.dynamic_scale) if isinstance(o, keras.optimizers.LossScaleOptimizer)
                    else tf.constant(1.0)) / replicas for n, o in self.optimizers.items()}

    def gradients(self, images: tf.Tensor, attributes: tf.Tensor | None = None,
                  scales: dict[str, tf.Tensor] | None = None):
        """(terms, {network: gradients of its scaled loss}) by the configured --step."""
        scales = scales or {n: tf.constant(1.0) for n in self.trained_networks}
        return steps.STEPS[self.config.step](self, images, attributes, scales)

    def train_step(self, data):
        images, attributes = self._unpack(data)
        terms, grads = self.gradients(images, attributes, self.loss_scales())
        # A step with a NaN or infinity anywhere is not applied to any network: one bad batch must
        # not poison the weights (the divergence guard handles runs of them). Loss-scaled
        # optimizers skip overflowing gradients themselves and lower their scale.
        scaled = self.config.compute_precision == "mixed_float16"
        finite = cross_replica.all_true(all_finite(
            [terms[LOSS_OF[n]] for n in grads] + ([] if scaled else [g for gs in grads.values() for g in gs])))
        conditions = {n: finite & terms[GATE_OF[n]] if GATE_OF.get(n) in terms else finite
                      for n in grads}
        cross_replica.apply_where(conditions, grads, self._apply)
        self.bad_streak.assign(tf.where(finite, tf.zeros_like(self.bad_streak), self.bad_streak + 1))
        self.worst_streak.assign(tf.maximum(self.worst_streak, self.bad_streak))
        terms["nonfinite"] = 1.0 - tf.cast(finite, tf.float32)
        if "train_dis" in terms:
            terms["skip_dis"] = 1.0 - tf.cast(terms["train_dis"], tf.float32)
            terms["skip_dec"] = 1.0 - tf.cast(terms["train_dec"], tf.float32)
        self.step.assign_add(1)
        return self._update_metrics(terms)

    def _apply(self, name: str, grads: list) -> None:
        self.optimizers[name].apply(grads, self.networks[name].trainable_variables)

    def evaluate(self, *args, **kwargs):
        # fit() validates through this too. A run resumed from a checkpoint written just before
        # a validation pass does not repeat that pass: without the reset, the noise of every
        # later pass (and the checkpointed state) would differ from an uninterrupted run's.
        self.eval_noise.state.assign(self._eval_noise_start)
        return super().evaluate(*args, **kwargs)

    def test_step(self, data):
        images, attributes = self._unpack(data)
        return self._update_metrics(self.forward(images, training=False, attributes=attributes))

    def _update_metrics(self, terms):
        reported = {n: t for n, t in self.loss_trackers.items() if n in terms}
        for name, tracker in reported.items():
            tracker.update_state(terms[name])
        results = {name: tracker.result() for name, tracker in reported.items()}
        strategy = tf.distribute.get_strategy()
        if (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)):
            # Keras reduces step outputs across workers along axis 0, which scalars lack
            # (tensorflow/tensorflow#72388); shape [1] reduces to the same mean.
            results = {k: tf.reshape(v, [1]) for k, v in results.items()}
        return results

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # __init__ and compile() build every variable. Keras's version would take one batch
        # from the training iterator under a strategy (shifting the data a resumed run sees)
        # and reduce it with strategy.reduce, which fails for tuples on several workers.
        pass
