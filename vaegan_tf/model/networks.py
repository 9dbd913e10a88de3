"""The paper's three networks (Larsen et al. 2016, Table 1), as Keras subclassed models.

All convolutions are 5x5; "down" convs have stride 2. Layers followed by BatchNorm carry no bias,
since BN's offset makes it redundant. BN uses the authors' momentum 0.9 and epsilon 1e-6.
Widths are configurable through one base width per network; the defaults give exactly Table 1:

  Enc: conv 64↓ BN ReLU, conv 128↓ BN ReLU, conv 256↓ BN ReLU, FC 2048 BN ReLU, FC 2x128 (mean, log σ²)
  Dec: FC 8·8·256 BN ReLU, convT 256↑ BN ReLU, convT 128↑ BN ReLU, convT 32↑ BN ReLU, conv 3 tanh
  Dis: conv 32 ReLU, conv 128↓ BN ReLU, conv 256↓ BN ReLU, conv 256↓ [Dis_l] BN ReLU,
       FC 512 BN ReLU, FC 1 (logit)

Conditional variants (Sec 4.2, `num_attributes` > 0). The paper concatenates the attribute vector
y [B, A] to the input of the top FC layer of Enc and Dis (their flattened conv features) and to z
at the input of Dec. Two stronger forms give y more say (Config.dec_conditioning and
dis_conditioning; docs/models.md measures them):
  Dec "every": y also enters each convT layer, as a per-image bias W_i·y added before its BN.
    This is the authors' cond_vaegan AppendSpatially (y tiled over the feature map and
    concatenated before each conv) without its zero-padding border terms: a conv over constant
    channels is that bias everywhere the kernel lies inside the image.
  Dis "projection" (Miyato & Koyama 2018): logit = ψ(φ(x)) + ⟨V·y, φ(x)⟩, φ the FC layer's
    output, instead of y at the FC input; the GAN gradient then rewards Dec for φ features that
    agree with y.
With num_attributes=0 the networks are exactly the ones above and ignore `attributes`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
from keras import layers

from vaegan_tf.settings import DEC_CONDITIONING, DIS_CONDITIONING
from vaegan_tf.errors import ConfigError
from vaegan_tf.model.layers import KERNEL, batch_norm, conv, dense, kernel_initializer


def _attributes(attributes, num_attributes: int, network: str, dtype):
    """y checked against the network's num_attributes and cast to dtype; None when unconditional."""
    if not num_attributes:
        return None
    if attributes is None:
        raise ValueError(f"this {network} is conditional on {num_attributes} attributes: "
                         "call it with attributes=[B, num_attributes]")
    width = attributes.shape[-1]
    if width is not None and width != num_attributes:
        raise ValueError(f"this {network} is conditional on {num_attributes} attributes, "
                         f"got attributes of shape {tuple(attributes.shape)}")
    # y arrives as float32 from the pipeline; under mixed precision h is float16/bfloat16.
    return keras.ops.cast(attributes, dtype)


def _with_attributes(h, y):
    """h with y appended along the last axis, or h as it is when y is None (unconditional)."""
    return h if y is None else keras.ops.concatenate([h, y], axis=-1)


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(choices)}")


def _check_image_size(image_size: int) -> None:
    if image_size % 8 or image_size < 16:
        raise ValueError(f"image_size must be a multiple of 8 and >= 16, got {image_size}")


@keras.saving.register_keras_serializable(package="vaegan_tf")
class Encoder(keras.Model):
    """q(z|x) (q(z|x, y) when conditional): images [B, S, S, 3] in [-1, 1] (and attributes
    [B, num_attributes]) -> (mean, log_var), each [B, latent_dim]."""

    def __init__(self, latent_dim: int = 128, width: int = 64, fc_width: int = 2048,
                 sync_batchnorm: bool = False, num_attributes: int = 0, init: str = "deeppy",
                 **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.width, self.fc_width = latent_dim, width, fc_width
        self.sync_batchnorm, self.num_attributes, self.init = sync_batchnorm, num_attributes, init
        self.convs = [conv(width * m, 2, f"conv{i}", init) for i, m in enumerate((1, 2, 4), 1)]
        self.conv_bns = [batch_norm(f"conv{i}_bn", sync_batchnorm) for i in range(1, 4)]
        self.flatten = layers.Flatten(name="flatten")
        self.fc = dense(fc_width, "fc", init)
        self.fc_bn = batch_norm("fc_bn", sync_batchnorm)
        self.mean = dense(latent_dim, "mean", init, bias=True)
        self.log_var = dense(latent_dim, "log_var", init, bias=True)

    def call(self, x, attributes=None, training=False):
        for layer, bn in zip(self.convs, self.conv_bns):
            x = keras.ops.relu(bn(layer(x), training=training))
        y = _attributes(attributes, self.num_attributes, "encoder", x.dtype)
        h = keras.ops.relu(self.fc_bn(self.fc(_with_attributes(self.flatten(x), y)),
                                      training=training))
        return self.mean(h), self.log_var(h)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "width": self.width,
                "fc_width": self.fc_width, "sync_batchnorm": self.sync_batchnorm,
                "num_attributes": self.num_attributes, "init": self.init}


@keras.saving.register_keras_serializable(package="vaegan_tf")
class Decoder(keras.Model):
    """p(x|z) (p(x|z, y) when conditional) and the GAN generator: z [B, latent_dim] (and
    attributes [B, num_attributes]) -> images [B, S, S, 3] in [-1, 1]."""

    def __init__(self, width: int = 32, image_size: int = 64, sync_batchnorm: bool = False,
                 num_attributes: int = 0, init: str = "deeppy", conditioning: str = "input",
                 **kwargs):
        super().__init__(**kwargs)
        _check_image_size(image_size)
        _check_choice(conditioning, DEC_CONDITIONING, "decoder conditioning")
        self.width, self.image_size, self.sync_batchnorm = width, image_size, sync_batchnorm
        self.num_attributes, self.init, self.conditioning = num_attributes, init, conditioning
        base, top = image_size // 8, width * 8
        self.fc = dense(base * base * top, "fc", init)
        self.fc_bn = batch_norm("fc_bn", sync_batchnorm)
        self.reshape = layers.Reshape((base, base, top))
        self.deconvs = [
            layers.Conv2DTranspose(width * m, KERNEL, strides=2, padding="same", use_bias=False,
                                   name=f"deconv{i}", kernel_initializer=kernel_initializer(init))
            for i, m in enumerate((8, 4, 1), 1)]
        self.deconv_bns = [batch_norm(f"deconv{i}_bn", sync_batchnorm) for i in range(1, 4)]
        # --dec_conditioning=every: y's per-image bias for each convT (no bias of its own: BN follows).
        self.y_biases = ([dense(width * m, f"deconv{i}_y", init) for i, m in enumerate((8, 4, 1), 1)]
                         if num_attributes and conditioning == "every" else [])
        self.out = conv(3, 1, "out", init, bias=True)

    def call(self, z, attributes=None, training=False, update_statistics=True):
        """update_statistics=False (training mode): BN normalises with the batch's statistics and
        leaves the moving ones, which inference uses, to other calls (Config.dec_statistics)."""
        bn = {"training": training, "update_statistics": update_statistics}
        y = _attributes(attributes, self.num_attributes, "decoder", z.dtype)
        x = self.reshape(keras.ops.relu(self.fc_bn(self.fc(_with_attributes(z, y)), **bn)))
        for i, (deconv, bn_layer) in enumerate(zip(self.deconvs, self.deconv_bns)):
            h = deconv(x)
            if self.y_biases:
                h = h + self.y_biases[i](keras.ops.cast(y, h.dtype))[:, None, None, :]
            x = keras.ops.relu(bn_layer(h, **bn))
        return keras.ops.tanh(self.out(x))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "image_size": self.image_size,
                "sync_batchnorm": self.sync_batchnorm, "num_attributes": self.num_attributes,
                "init": self.init, "conditioning": self.conditioning}


class Stem(NamedTuple):
    """A batch of images already through Discriminator.stem."""
    value: Any


def _is_list(x) -> bool:
    return isinstance(x, (list, tuple)) and not isinstance(x, Stem)


def _jointly(bn_layer, parts: list, kwargs: dict) -> list:
    """bn_layer on the concatenation of `parts` (one set of batch statistics), split back."""
    if len(parts) == 1 or not kwargs.get("training"):
        # Inference BN normalises each image alone: a concatenation would only carry zero
        # cotangents to the other parts, whose convolutions would then back-propagate them.
        return [bn_layer(p, **kwargs) for p in parts]
    out = bn_layer(keras.ops.concatenate(parts, axis=0), **kwargs)
    sizes = [keras.ops.shape(p)[0] for p in parts]
    return keras.ops.split(out, [sum(sizes[:i + 1]) for i in range(len(sizes) - 1)], axis=0)


@keras.saving.register_keras_serializable(package="vaegan_tf")
class Discriminator(keras.Model):
    """Dis: images [B, S, S, 3] (and attributes [B, num_attributes] when conditional) ->
    (logit [B], Dis_l features [B, S/8, S/8, 8*width]).

    Dis_l is the 4th convolution's output before its BN and ReLU (the authors' "reconstruction
    error at layer #9"), so the similarity metric does not depend on BN's batch statistics there.
    """

    def __init__(self, width: int = 32, fc_width: int = 512, sync_batchnorm: bool = False,
                 num_attributes: int = 0, init: str = "deeppy", conditioning: str = "fc",
                 **kwargs):
        super().__init__(**kwargs)
        _check_choice(conditioning, DIS_CONDITIONING, "discriminator conditioning")
        self.width, self.fc_width, self.sync_batchnorm = width, fc_width, sync_batchnorm
        self.num_attributes, self.init, self.conditioning = num_attributes, init, conditioning
        self.conv1 = conv(width, 1, "conv1", init, bias=True)
        self.convs = [conv(width * m, 2, f"conv{i}", init) for i, m in ((2, 4), (3, 8), (4, 8))]
        self.conv_bns = [batch_norm(f"conv{i}_bn", sync_batchnorm) for i in range(2, 5)]
        self.flatten = layers.Flatten(name="flatten")
        self.fc = dense(fc_width, "fc", init)
        self.fc_bn = batch_norm("fc_bn", sync_batchnorm)
        self.logit = dense(1, "logit", init, bias=True)
        # --dis_conditioning=projection: V, y's embedding in φ's space.
        self.projection = (dense(fc_width, "projection", init)
                           if num_attributes and conditioning == "projection" else None)

    def stem(self, images):
        """The layers before Dis's first BatchNorm. They see each image alone, so a batch that
        two passes normalise differently (x in the similarity and GAN passes) goes through them
        once: pass Stem(dis.stem(x)) for it to features() and call()."""
        return self.convs[0](keras.ops.relu(self.conv1(images)))

    def features(self, x, training=False, update_statistics=True):
        """Dis_l(x): the layers up to the 4th convolution only (the authors' similarity pass).

        update_statistics=False: in training mode BN normalises with this batch's statistics but
        leaves its moving averages alone, so a pass that must not train Dis does not change the
        statistics Dis is evaluated with either (the authors' similarity pass runs on a copy of
        Dis's layers whose running statistics are its own and never used).
        x a list of batches (images or Stems): the same as on their concatenation (BN statistics
        over all of them), returned as a list, but each convolution runs batch by batch, so that
        back-propagation to one batch (x̃ in the similarity pass) does not compute the others'
        input gradients.
        """
        many = _is_list(x)
        out = self._features(list(x) if many else [x], training, update_statistics, True)
        return out if many else out[0]

    def _features(self, parts, training, update_statistics, per_batch):
        bn = {"training": training, "update_statistics": update_statistics}
        h = [p.value if isinstance(p, Stem) else self.stem(p) for p in parts]
        if not per_batch and len(h) > 1:
            h = [keras.ops.concatenate(h, axis=0)]  # every row needs the rest: one call
        h = [keras.ops.relu(t) for t in _jointly(self.conv_bns[0], h, bn)]
        h = [keras.ops.relu(t) for t in _jointly(self.conv_bns[1], [self.convs[1](t) for t in h], bn)]
        return [self.convs[2](t) for t in h]

    def call(self, x, attributes=None, training=False):
        """x: images, a Stem, or a list of them for one call on their concatenation (each
        batch's stem computed alone: no input gradient at a batch that needs none)."""
        features = self._features(list(x) if _is_list(x) else [x], training, True, False)[0]
        x = keras.ops.relu(self.conv_bns[2](features, training=training))
        # Dis_l stays unconditional: it is the image's features, compared between x and x̃.
        y = _attributes(attributes, self.num_attributes, "discriminator", x.dtype)
        h = self.flatten(x) if self.projection else _with_attributes(self.flatten(x), y)
        h = keras.ops.relu(self.fc_bn(self.fc(h), training=training))
        logit = keras.ops.squeeze(self.logit(h), axis=-1)
        if self.projection:
            logit = logit + keras.ops.sum(h * self.projection(y), axis=-1)
        return logit, features

    def get_config(self):
        return {**super().get_config(), "width": self.width, "fc_width": self.fc_width,
                "sync_batchnorm": self.sync_batchnorm, "num_attributes": self.num_attributes,
                "init": self.init, "conditioning": self.conditioning}


def build_networks(config) -> dict[str, keras.Model]:
    """The networks a config's model uses, built (variables created) for config.image_size.

    With config.conditional each network is conditioned on config.num_attributes attributes,
    which train.resolve_config fills from the dataset before the model is built.
    """
    _check_image_size(config.image_size)
    a = config.num_attributes if config.conditional else 0
    if config.conditional and a <= 0:
        raise ConfigError("--conditional needs --num_attributes > 0 (filled from the dataset's "
                          "attribute names when training; leave it 0 on the command line)")
    s = config.image_size
    image = keras.ops.zeros((1, s, s, 3))
    y = keras.ops.zeros((1, a)) if a else None
    sync = config.sync_batchnorm
    nets: dict[str, keras.Model] = {
        "decoder": Decoder(config.dec_width, s, sync, num_attributes=a, init=config.init,
                           conditioning=config.dec_conditioning, name="decoder")}
    # One inference call creates every variable, so optimizers and checkpoints see them all.
    nets["decoder"](keras.ops.zeros((1, config.latent_dim)), attributes=y)
    if config.uses_encoder:
        nets["encoder"] = Encoder(config.latent_dim, config.enc_width, config.fc_width, sync,
                                  num_attributes=a, init=config.init, name="encoder")
        nets["encoder"](image, attributes=y)
    if config.uses_discriminator:
        nets["discriminator"] = Discriminator(config.dis_width, config.fc_width // 4, sync,
                                              num_attributes=a, init=config.init,
                                              conditioning=config.dis_conditioning,
                                              name="discriminator")
        nets["discriminator"](image, attributes=y)
    return nets
