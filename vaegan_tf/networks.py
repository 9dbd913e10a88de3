"""The paper's three networks (Larsen et al. 2016, Table 1), as Keras subclassed models.

All convolutions are 5x5; "down" convs have stride 2. Layers followed by BatchNorm carry no bias,
since BN's offset makes it redundant. BN uses the authors' momentum 0.9 and epsilon 1e-6.
Widths are configurable through one base width per network; the defaults give exactly Table 1:

  Enc: conv 64↓ BN ReLU, conv 128↓ BN ReLU, conv 256↓ BN ReLU, FC 2048 BN ReLU, FC 2x128 (mean, log σ²)
  Dec: FC 8·8·256 BN ReLU, convT 256↑ BN ReLU, convT 128↑ BN ReLU, convT 32↑ BN ReLU, conv 3 tanh
  Dis: conv 32 ReLU, conv 128↓ BN ReLU, conv 256↓ BN ReLU, conv 256↓ [Dis_l] BN ReLU,
       FC 512 BN ReLU, FC 1 (logit)
"""

from __future__ import annotations

import keras
from keras import layers

KERNEL = 5
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-6


def _bn(name: str, sync: bool) -> layers.BatchNormalization:
    # sync (--sync_batchnorm): under a tf.distribute strategy the batch statistics are all-reduced
    # over the global batch, so N replicas normalise exactly as one device would.
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name,
                                     synchronized=sync)


def _conv(filters: int, stride: int, name: str, bias: bool = False) -> layers.Conv2D:
    return layers.Conv2D(filters, KERNEL, strides=stride, padding="same", use_bias=bias, name=name)


def _check_image_size(image_size: int) -> None:
    if image_size % 8 or image_size < 16:
        raise ValueError(f"image_size must be a multiple of 8 and >= 16, got {image_size}")


class Encoder(keras.Model):
    """q(z|x): images [B, S, S, 3] in [-1, 1] -> (mean, log_var), each [B, latent_dim]."""

    def __init__(self, latent_dim: int = 128, width: int = 64, fc_width: int = 2048,
                 sync_batchnorm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.width, self.fc_width = latent_dim, width, fc_width
        self.sync_batchnorm = sync_batchnorm
        self.convs = [_conv(width * m, 2, f"conv{i}") for i, m in enumerate((1, 2, 4), 1)]
        self.conv_bns = [_bn(f"conv{i}_bn", sync_batchnorm) for i in range(1, 4)]
        self.flatten = layers.Flatten(name="flatten")
        self.fc = layers.Dense(fc_width, use_bias=False, name="fc")
        self.fc_bn = _bn("fc_bn", sync_batchnorm)
        self.mean = layers.Dense(latent_dim, name="mean")
        self.log_var = layers.Dense(latent_dim, name="log_var")

    def call(self, x, training=False):
        for conv, bn in zip(self.convs, self.conv_bns):
            x = keras.ops.relu(bn(conv(x), training=training))
        h = keras.ops.relu(self.fc_bn(self.fc(self.flatten(x)), training=training))
        return self.mean(h), self.log_var(h)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "width": self.width,
                "fc_width": self.fc_width, "sync_batchnorm": self.sync_batchnorm}


class Decoder(keras.Model):
    """p(x|z) and the GAN generator: z [B, latent_dim] -> images [B, S, S, 3] in [-1, 1]."""

    def __init__(self, width: int = 32, image_size: int = 64, sync_batchnorm: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        _check_image_size(image_size)
        self.width, self.image_size, self.sync_batchnorm = width, image_size, sync_batchnorm
        base, top = image_size // 8, width * 8
        self.fc = layers.Dense(base * base * top, use_bias=False, name="fc")
        self.fc_bn = _bn("fc_bn", sync_batchnorm)
        self.reshape = layers.Reshape((base, base, top))
        self.deconvs = [
            layers.Conv2DTranspose(width * m, KERNEL, strides=2, padding="same", use_bias=False,
                                   name=f"deconv{i}")
            for i, m in enumerate((8, 4, 1), 1)]
        self.deconv_bns = [_bn(f"deconv{i}_bn", sync_batchnorm) for i in range(1, 4)]
        self.out = _conv(3, 1, "out", bias=True)

    def call(self, z, training=False):
        x = self.reshape(keras.ops.relu(self.fc_bn(self.fc(z), training=training)))
        for deconv, bn in zip(self.deconvs, self.deconv_bns):
            x = keras.ops.relu(bn(deconv(x), training=training))
        return keras.ops.tanh(self.out(x))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "image_size": self.image_size,
                "sync_batchnorm": self.sync_batchnorm}


class Discriminator(keras.Model):
    """Dis: images [B, S, S, 3] -> (logit [B], Dis_l features [B, S/8, S/8, 8*width]).

    Dis_l is the 4th convolution's output before its BN and ReLU (the authors' "reconstruction
    error at layer #9"), so the similarity metric does not depend on BN's batch statistics there.
    """

    def __init__(self, width: int = 32, fc_width: int = 512, sync_batchnorm: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.width, self.fc_width, self.sync_batchnorm = width, fc_width, sync_batchnorm
        self.conv1 = _conv(width, 1, "conv1", bias=True)
        self.convs = [_conv(width * m, 2, f"conv{i}") for i, m in ((2, 4), (3, 8), (4, 8))]
        self.conv_bns = [_bn(f"conv{i}_bn", sync_batchnorm) for i in range(2, 5)]
        self.flatten = layers.Flatten(name="flatten")
        self.fc = layers.Dense(fc_width, use_bias=False, name="fc")
        self.fc_bn = _bn("fc_bn", sync_batchnorm)
        self.logit = layers.Dense(1, name="logit")

    def call(self, x, training=False):
        x = keras.ops.relu(self.conv1(x))
        x = keras.ops.relu(self.conv_bns[0](self.convs[0](x), training=training))
        x = keras.ops.relu(self.conv_bns[1](self.convs[1](x), training=training))
        features = self.convs[2](x)
        x = keras.ops.relu(self.conv_bns[2](features, training=training))
        h = keras.ops.relu(self.fc_bn(self.fc(self.flatten(x)), training=training))
        return keras.ops.squeeze(self.logit(h), axis=-1), features

    def get_config(self):
        return {**super().get_config(), "width": self.width, "fc_width": self.fc_width,
                "sync_batchnorm": self.sync_batchnorm}


def build_networks(config) -> dict[str, keras.Model]:
    """The networks a config's model uses, built (variables created) for config.image_size."""
    _check_image_size(config.image_size)
    s = config.image_size
    image = keras.ops.zeros((1, s, s, 3))
    sync = config.sync_batchnorm
    nets: dict[str, keras.Model] = {"decoder": Decoder(config.dec_width, s, sync, name="decoder")}
    # One inference call creates every variable, so optimizers and checkpoints see them all.
    nets["decoder"](keras.ops.zeros((1, config.latent_dim)))
    if config.uses_encoder:
        nets["encoder"] = Encoder(config.latent_dim, config.enc_width, config.fc_width, sync,
                                   name="encoder")
        nets["encoder"](image)
    if config.uses_discriminator:
        nets["discriminator"] = Discriminator(config.dis_width, config.fc_width // 4, sync,
                                              name="discriminator")
        nets["discriminator"](image)
    return nets
