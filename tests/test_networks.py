"""Table 1 of the paper, checked layer by layer at the default (full) widths."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config
from keras import layers

from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError
from vaegan_tf.model.networks import Decoder, Discriminator, Encoder, build_networks


@pytest.fixture(scope="module")
def nets():
    return build_networks(Config())


def _conv_spec(layer):
    return (type(layer).__name__, layer.filters, layer.strides, layer.kernel_size, layer.use_bias)


def _bn_ok(bn, channels):
    return (isinstance(bn, layers.BatchNormalization) and bn.momentum == 0.9 and bn.epsilon == 1e-6
            and bn.gamma.shape == (channels,))


def test_encoder_table1(nets):
    enc = nets["encoder"]
    assert [_conv_spec(c) for c in enc.convs] == [
        ("Conv2D", 64, (2, 2), (5, 5), False), ("Conv2D", 128, (2, 2), (5, 5), False),
        ("Conv2D", 256, (2, 2), (5, 5), False)]
    assert all(_bn_ok(bn, c) for bn, c in zip(enc.conv_bns, (64, 128, 256)))
    assert enc.fc.units == 2048 and not enc.fc.use_bias and _bn_ok(enc.fc_bn, 2048)
    assert enc.mean.units == enc.log_var.units == 128
    x = np.zeros((2, 64, 64, 3), np.float32)
    shapes = []
    for conv in enc.convs:
        x = conv(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(2, 32, 32, 64), (2, 16, 16, 128), (2, 8, 8, 256)]
    mean, log_var = enc(np.zeros((2, 64, 64, 3), np.float32))
    assert mean.shape == log_var.shape == (2, 128)
    # conv weights + BN (4 per channel) + FC + BN + two heads with bias.
    expected = (25 * 3 * 64 + 25 * 64 * 128 + 25 * 128 * 256 + 4 * (64 + 128 + 256)
                + 8 * 8 * 256 * 2048 + 4 * 2048 + 2 * (2048 * 128 + 128))
    assert enc.count_params() == expected


def test_decoder_table1(nets):
    dec = nets["decoder"]
    assert dec.fc.units == 8 * 8 * 256 and not dec.fc.use_bias and _bn_ok(dec.fc_bn, 8 * 8 * 256)
    assert [_conv_spec(c) for c in dec.deconvs] == [
        ("Conv2DTranspose", 256, (2, 2), (5, 5), False), ("Conv2DTranspose", 128, (2, 2), (5, 5), False),
        ("Conv2DTranspose", 32, (2, 2), (5, 5), False)]
    assert all(_bn_ok(bn, c) for bn, c in zip(dec.deconv_bns, (256, 128, 32)))
    assert _conv_spec(dec.out) == ("Conv2D", 3, (1, 1), (5, 5), True)
    x = dec.reshape(dec.fc(np.zeros((2, 128), np.float32)))
    shapes = [tuple(x.shape)]
    for deconv in dec.deconvs:
        x = deconv(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(2, 8, 8, 256), (2, 16, 16, 256), (2, 32, 32, 128), (2, 64, 64, 32)]
    out = dec(np.random.default_rng(0).normal(size=(2, 128)).astype(np.float32) * 10)
    assert out.shape == (2, 64, 64, 3)
    assert np.abs(np.asarray(out)).max() <= 1.0  # tanh
    expected = (128 * 16384 + 4 * 16384 + 25 * 256 * 256 + 25 * 256 * 128 + 25 * 128 * 32
                + 4 * (256 + 128 + 32) + 25 * 32 * 3 + 3)
    assert dec.count_params() == expected


def test_discriminator_table1(nets):
    dis = nets["discriminator"]
    assert _conv_spec(dis.conv1) == ("Conv2D", 32, (1, 1), (5, 5), True)
    assert [_conv_spec(c) for c in dis.convs] == [
        ("Conv2D", 128, (2, 2), (5, 5), False), ("Conv2D", 256, (2, 2), (5, 5), False),
        ("Conv2D", 256, (2, 2), (5, 5), False)]
    assert all(_bn_ok(bn, c) for bn, c in zip(dis.conv_bns, (128, 256, 256)))
    assert dis.fc.units == 512 and _bn_ok(dis.fc_bn, 512) and dis.logit.units == 1
    logit, features = dis(np.zeros((3, 64, 64, 3), np.float32))
    assert logit.shape == (3,) and features.shape == (3, 8, 8, 256)
    expected = (25 * 3 * 32 + 32 + 25 * 32 * 128 + 25 * 128 * 256 + 25 * 256 * 256
                + 4 * (128 + 256 + 256) + 16384 * 512 + 4 * 512 + 512 + 1)
    assert dis.count_params() == expected


@pytest.mark.parametrize("training", [False, True])
def test_disl_is_fourth_conv_before_bn(training):
    dis = Discriminator(width=4, fc_width=8)
    x = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype(np.float32)
    _, features = dis(x, training=training)
    h = keras.ops.relu(dis.conv1(x))
    for conv, bn in zip(dis.convs[:2], dis.conv_bns[:2]):
        h = keras.ops.relu(bn(conv(h), training=training))
    conv4 = dis.convs[2](h)
    np.testing.assert_allclose(features, conv4, rtol=1e-5, atol=1e-6)
    # Before ReLU: Dis_l keeps negative values, which a post-ReLU layer could not.
    assert float(np.min(features)) < 0


def test_configurable_sizes_and_get_config():
    enc = Encoder(latent_dim=5, width=4, fc_width=16)
    dec = Decoder(width=2, image_size=128)
    dis = Discriminator(width=2, fc_width=4)
    mean, _ = enc(np.zeros((1, 128, 128, 3), np.float32))
    assert mean.shape == (1, 5)
    assert dec(np.zeros((1, 7), np.float32)).shape == (1, 128, 128, 3)
    assert dis(np.zeros((1, 128, 128, 3), np.float32))[1].shape == (1, 16, 16, 16)
    for model in (enc, dec, dis):
        clone = type(model).from_config(model.get_config())
        assert clone.get_config() == model.get_config()


def test_bad_image_size():
    with pytest.raises(ValueError, match="multiple of 8"):
        Decoder(image_size=36)


# --- conditional networks (Sec 4.2) ---

A = 3  # attributes in the conditional tests


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 32, 32, 3)).astype(np.float32)
    z = rng.normal(size=(4, 5)).astype(np.float32)
    y = rng.normal(size=(4, A)).astype(np.float32)
    return x, z, y


def test_conditional_encoder_concatenates_y_at_its_top_fc():
    enc = Encoder(latent_dim=5, width=4, fc_width=16, num_attributes=A)
    x, _, y = _inputs()
    mean, log_var = enc(x, attributes=y, training=False)
    assert mean.shape == log_var.shape == (4, 5)
    assert enc.fc.kernel.shape == (4 * 4 * 16 + A, 16)  # flattened 4x4x(4*4) conv output + y
    h = x
    for conv, bn in zip(enc.convs, enc.conv_bns):
        h = keras.ops.relu(bn(conv(h), training=False))
    h = keras.ops.concatenate([keras.ops.reshape(h, (4, -1)), y], axis=-1)
    h = keras.ops.relu(enc.fc_bn(enc.fc(h), training=False))
    np.testing.assert_allclose(mean, enc.mean(h), rtol=1e-5, atol=1e-6)
    other = np.asarray(enc(x, attributes=y + 1.0)[0])
    assert np.abs(other - np.asarray(mean)).max() > 1e-3  # y reaches the output


def _decoder_reference(dec, z, y, every: bool):
    """Dec(z, y) layer by layer: y concatenated to z, and with `every` W_i·y added to each
    convT's output before its BN."""
    h = dec.reshape(keras.ops.relu(dec.fc_bn(dec.fc(np.concatenate([z, y], -1)), training=False)))
    for i, (deconv, bn) in enumerate(zip(dec.deconvs, dec.deconv_bns)):
        h = deconv(h)
        if every:
            h = h + (y @ dec.y_biases[i].kernel.numpy())[:, None, None, :]
        h = keras.ops.relu(bn(h, training=False))
    return keras.ops.tanh(dec.out(h))


@pytest.mark.parametrize("conditioning", ["input", "every"])
def test_conditional_decoder_takes_y_with_z_and_at_every_layer(conditioning):
    dec = Decoder(width=2, image_size=32, num_attributes=A, conditioning=conditioning)
    _, z, y = _inputs()
    out = dec(z, attributes=y, training=False)
    assert out.shape == (4, 32, 32, 3)
    assert dec.fc.kernel.shape == (5 + A, 4 * 4 * 16)
    assert [b.kernel.shape for b in dec.y_biases] == (
        [(A, 16), (A, 8), (A, 2)] if conditioning == "every" else [])
    np.testing.assert_allclose(out, _decoder_reference(dec, z, y, conditioning == "every"),
                               rtol=1e-5, atol=1e-6)
    # Relative: deeppy's small initialisation leaves an untrained Dec's outputs near 1e-3.
    change = np.abs(np.asarray(dec(z, attributes=-y)) - np.asarray(out)).max()
    assert change > 0.05 * np.abs(np.asarray(out)).max() > 0
    if conditioning == "every":
        # y reaches the last layers directly: with the FC's y rows zeroed it still changes Dec(z).
        kernel = dec.fc.kernel.numpy()
        dec.fc.kernel.assign(np.concatenate([kernel[:5], np.zeros_like(kernel[5:])]))
        change = np.abs(np.asarray(dec(z, attributes=-y)) - np.asarray(dec(z, attributes=y))).max()
        assert change > 0.05 * np.abs(np.asarray(out)).max()


def _logit_gradient(dis, x, y, training):
    """∂ Σ logit / ∂x: the direction Dis's GAN loss pushes a fake image in."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit, _ = dis(x, attributes=y, training=training)
        total = tf.reduce_sum(logit)
    return tape.gradient(total, x).numpy()


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("conditioning", ["fc", "projection"])
def test_conditional_discriminator(training, conditioning):
    dis = Discriminator(width=2, fc_width=8, num_attributes=A, conditioning=conditioning)
    x, _, y = _inputs()
    logit, features = dis(x, attributes=y, training=training)
    assert logit.shape == (4,) and features.shape == (4, 4, 4, 16)
    projection = conditioning == "projection"
    assert dis.fc.kernel.shape == (4 * 4 * 16 + (0 if projection else A), 8)
    h = keras.ops.relu(dis.conv_bns[2](features, training=training))
    h = keras.ops.reshape(h, (4, -1))
    if not projection:
        h = keras.ops.concatenate([h, y], axis=-1)
    h = np.asarray(keras.ops.relu(dis.fc_bn(dis.fc(h), training=training)))
    expected = np.asarray(keras.ops.squeeze(dis.logit(h), -1))
    if projection:  # logit = ψ(φ) + <V y, φ> (Miyato & Koyama 2018)
        expected = expected + np.sum(h * (y @ dis.projection.kernel.numpy()), axis=-1)
    else:
        assert dis.projection is None
    np.testing.assert_allclose(logit, expected, rtol=1e-5, atol=1e-5)
    other_logit, other_features = dis(x, attributes=y * 3.0, training=training)
    # Dis_l is below the FC layer, so y changes the logit but never the similarity features.
    np.testing.assert_array_equal(other_features, features)
    assert np.abs(np.asarray(other_logit) - np.asarray(logit)).max() > 1e-4
    # y changes the gradient the GAN loss sends back to the images (what Dec learns from).
    grad, other = _logit_gradient(dis, x, y, training), _logit_gradient(dis, x, -y, training)
    assert np.abs(other - grad).max() > 1e-3 * np.abs(grad).max() > 0


def test_unconditional_networks_ignore_attributes():
    x, z, y = _inputs()
    for net, inputs in ((Encoder(latent_dim=5, width=4, fc_width=16), x),
                        (Decoder(width=2, image_size=32), z),
                        (Discriminator(width=2, fc_width=8), x)):
        plain = net(inputs)
        given = net(inputs, attributes=y)
        for a, b in zip(keras.tree.flatten(plain), keras.tree.flatten(given)):
            np.testing.assert_array_equal(a, b)
        assert net.num_attributes == 0 and net.get_config()["num_attributes"] == 0


def test_conditional_networks_need_attributes_of_the_right_width():
    x, z, y = _inputs()
    for net, inputs in ((Encoder(latent_dim=5, width=4, fc_width=16, num_attributes=A), x),
                        (Decoder(width=2, image_size=32, num_attributes=A), z),
                        (Discriminator(width=2, fc_width=8, num_attributes=A), x)):
        with pytest.raises(ValueError, match="conditional on 3 attributes: call it with"):
            net(inputs)
        with pytest.raises(ValueError, match=r"conditional on 3 attributes, got .*\(4, 2\)"):
            net(inputs, attributes=y[:, :2])
        clone = type(net).from_config(net.get_config())
        assert clone.num_attributes == A


def test_build_networks_conditional():
    config = Config(enc_width=4, dec_width=2, dis_width=2, fc_width=32, latent_dim=5,
                    image_size=32, conditional=True, num_attributes=A)
    nets = build_networks(config)
    assert {n: m.num_attributes for n, m in nets.items()} == {
        "encoder": A, "decoder": A, "discriminator": A}
    assert nets["decoder"].conditioning == "every"
    assert nets["discriminator"].conditioning == "projection"
    plain = build_networks(config.replace(conditional=False))
    # Enc: A extra input rows in its top FC layer. Dec: those, and A rows per convT's y bias.
    # Dis: its projection V, A rows of the FC's width. Nothing else.
    extra = {"encoder": A * 32, "decoder": A * (4 * 4 * 16 + 16 + 8 + 2),
             "discriminator": A * 8}
    for name in nets:
        assert nets[name].count_params() - plain[name].count_params() == extra[name], name
    paper = build_networks(config.replace(dec_conditioning="input", dis_conditioning="fc"))
    for name in nets:  # the paper's form: A extra input rows in each top FC layer
        assert paper[name].count_params() - plain[name].count_params() == A * paper[name].fc.units
    # num_attributes is only used with --conditional.
    assert all(m.num_attributes == 0 for m in plain.values())
    with pytest.raises(ConfigError, match="--conditional needs --num_attributes > 0"):
        build_networks(config.replace(num_attributes=0))


# --- --init: deeppy (authors) or glorot ---

def _kernels(config):
    out = []
    for name, net in build_networks(config).items():
        for layer in net._flatten_layers(include_self=False):
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose,
                                  keras.layers.Dense)):
                shape = tuple(layer.kernel.shape)
                # Keras's fans: receptive field times the second-to-last / last axis (a transposed
                # conv's kernel is (k, k, out, in), so its fan_in is k·k·out).
                fan_in = int(np.prod(shape[:-2])) * shape[-2] if len(shape) > 2 else shape[0]
                fan_out = int(np.prod(shape[:-2])) * shape[-1] if len(shape) > 2 else shape[1]
                out.append((f"{name}/{layer.name}", layer, layer.kernel.numpy(), fan_in, fan_out))
    return out


def test_deeppy_init_is_uniform_within_one_over_sqrt_three_fan_in():
    kernels = _kernels(tiny_config(init="deeppy"))
    assert len(kernels) == 6 + 5 + 6  # every conv, convT and FC layer of Enc, Dec and Dis
    pooled = []
    for name, _, k, fan_in, _ in kernels:
        limit = 1 / np.sqrt(3 * fan_in)
        assert np.abs(k).max() <= limit * (1 + 1e-6), name
        if k.size >= 1000:  # enough draws to pin the spread per layer
            np.testing.assert_allclose(k.std(), limit / np.sqrt(3), rtol=0.1, err_msg=name)
            assert np.abs(k).max() > 0.95 * limit, name
        pooled.append(k.ravel() / limit)
    pooled = np.concatenate(pooled)
    np.testing.assert_allclose(pooled.std(), 1 / np.sqrt(3), rtol=0.02)
    assert abs(pooled.mean()) < 0.02


def test_glorot_init_is_larger_on_the_convolutions():
    deeppy = {n: k for n, _, k, _, _ in _kernels(tiny_config(init="deeppy"))}
    glorot = _kernels(tiny_config(init="glorot"))
    for name, layer, k, fan_in, fan_out in glorot:
        if k.size >= 1000:
            np.testing.assert_allclose(k.std(), np.sqrt(2 / (fan_in + fan_out)), rtol=0.1,
                                       err_msg=name)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            assert k.std() > 1.5 * deeppy[name].std(), name
