"""VAEGAN: the paper's five models behind one Keras model, whose train_step applies Eq. 9.

One forward pass (forward.py), and each network's gradient comes from its own loss only (Algorithm 1 / Eq. 9):
    Enc ← ∇(L_prior + L_llike)        no GAN gradient reaches the encoder
    Dec ← ∇(γ·L_llike + L_GAN^Dec)    see losses.py for the sign convention
    Dis ← ∇(L_GAN^Dis)                Dis never minimises L_llike (it would collapse Dis_l to 0)

The models differ only in which terms exist (Config.similarity, uses_encoder, ...):
    vaegan       L_llike on Dis_l features; GAN with the fakes Config.gan_fakes selects
    vae          L_llike on pixels; no Dis; Dec ← L_llike (the usual VAE)
    vae_disl     L_llike on the Dis_l of a frozen, earlier-trained Dis; no GAN
    vaegan_dis0  L_llike on pixels plus the GAN
    gan          no Enc, no L_llike; Dec(z_p) is the only fake

How the gradients are computed (gradients.py, --gradients): `three_tape` records the forward pass
on one tape per network; `fused` (default) records each network's stage on its own tape and hands the
cotangents at x̃ and z on with output_gradients, which computes the same numbers with less work.
With --conditional every network also receives the attribute vector y (Sec 4.2; networks.py).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from vaegan_tf.config import Config
from vaegan_tf.model import cross_replica, optim, gradients
from vaegan_tf.model.forward import ForwardPass, all_finite, dtype_policy, fake_kinds
from vaegan_tf.model.networks import build_networks

LOSS_OF = gradients.LOSS_OF
GATE_OF = {"discriminator": "train_dis", "decoder": "train_dec"}


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


def _counter(name: str, dtype=tf.int64) -> tf.Variable:
    # Updated inside the step: under a tf.distribute strategy every replica computes the same
    # value, and the first replica's is kept.
    return tf.Variable(tf.zeros((), dtype), trainable=False, name=name,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


@keras.saving.register_keras_serializable(package="vaegan_tf")
class VAEGAN(ForwardPass, keras.Model):
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
        return {"name": self.name, "config": self.config.record(), "step": int(self.step.numpy())}

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
        """(terms, {network: gradients of its scaled loss}) by the configured --gradients."""
        scales = scales or {n: tf.constant(1.0) for n in self.trained_networks}
        return gradients.WAYS[self.config.gradients](self, images, attributes, scales)

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
