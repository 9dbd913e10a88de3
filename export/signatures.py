"""The serving functions of the exported Enc and Dec: their signatures, inputs checked (a wrong
shape or dtype is an InvalidArgument naming the input), JPEG/PNG in and out (saved_model.py
writes them); the encoder takes any picture format training reads."""

from __future__ import annotations

import keras
import tensorflow as tf

from vaegan_tf.data.decode import decode_picture, has_picture_magic
from vaegan_tf.data.preprocess import preprocess

# Signature name -> the module's tf.function behind it, per exported model.
SIGNATURES = {
    "encoder": {"serving_default": "encode", "encode_jpeg": "encode_jpeg"},
    "decoder": {"serving_default": "decode", "decode_png": "decode_png"},
}



def decode_images(image_bytes: tf.Tensor, crop: str, image_size: int) -> tf.Tensor:
    """Encoded pictures [B] (any format training reads) -> float32 [B, S, S, 3] in [-1, 1], exactly as in training."""

    def one(args):
        contents, index = args
        # decode_image's own error for non-image bytes does not say which input was at fault.
        message = tf.strings.format("image_bytes[{}] is not a decodable picture (JPEG, PNG, GIF, "
                                    "BMP or WebP)", index)
        with tf.control_dependencies([tf.debugging.Assert(has_picture_magic(contents), [message])]):
            image = decode_picture(contents)  # upright by EXIF, alpha over white, as in training
        return preprocess(image, crop, image_size)

    indices = tf.range(tf.shape(image_bytes)[0])
    return tf.map_fn(one, (image_bytes, indices),
                     fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32))


def to_png(images: tf.Tensor) -> tf.Tensor:
    """float32 [B, S, S, 3] in [-1, 1] -> PNG strings [B] of round((x + 1) * 127.5) as uint8."""
    pixels = tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)
    return tf.map_fn(tf.io.encode_png, pixels, fn_output_signature=tf.string)


def _checked(tensor: tf.Tensor, name: str) -> tf.Tensor:
    """The input, checked at run time against its signature's shape, and not an empty batch.

    A loaded signature and TF Serving feed tensors of any shape (only the dtype is checked), and
    a wrong rank reaching a convolution aborts the whole process in oneDNN; EnsureShape turns it
    into an InvalidArgumentError naming the input and both shapes. An empty batch would fail
    inside BatchNorm with a message about neither.
    """
    tensor = tf.ensure_shape(tensor, tensor.shape)
    not_empty = tf.debugging.Assert(tf.shape(tensor)[0] > 0, [f"{name} is an empty batch"])
    with tf.control_dependencies([not_empty]):
        return tf.identity(tensor)


def _module(network: keras.Model) -> tf.Module:
    module = tf.Module()
    # The Keras model itself stays out of the object graph (only its variables are saved), so the
    # SavedModel holds no Keras objects and loads in plain TensorFlow.
    module.model_variables = list(network.weights)
    return module


def _checked_attributes(attributes: tf.Tensor, num_attributes: int,
                        binary: bool) -> tf.Tensor:
    """y checked at run time, one message naming what is wrong: [B, num_attributes] (a loaded
    signature accepts any shape of the right dtype), finite, and for binary attributes (all data
    but LFW's scores) within [0, 1], where training's 0/1 vectors and their blends lie."""
    # A wrong rank is left to _checked's EnsureShape ("Shape of tensor attributes [..] is not
    # compatible with expected shape [?, A]"): grappler folds a rank test to the signature's rank.
    length = tf.reduce_prod(tf.shape(attributes)[1:])  # any rank reaches EnsureShape safely
    shape_ok = tf.debugging.Assert(tf.equal(length, num_attributes), [tf.strings.format(
        f"attributes must be [batch, {num_attributes}]: one value per attribute the model was "
        "trained on; got shape {}", tf.shape(attributes))])
    with tf.control_dependencies([shape_ok]):
        attributes = _checked(attributes, "attributes")
    ok = tf.math.is_finite(attributes)
    expected = "finite values"
    if binary:
        ok = ok & (attributes >= 0.0) & (attributes <= 1.0)
        expected = "values in [0, 1] (1: the attribute asked for, 0: asked to be absent)"
    first_bad = tf.where(tf.logical_not(ok))[:1]
    values_ok = tf.debugging.Assert(tf.reduce_all(ok), [tf.strings.format(
        f"attributes must hold {expected}; got {{}} at [row, column] {{}}",
        (tf.gather_nd(attributes, first_bad), first_bad))])
    with tf.control_dependencies([values_ok]):
        return tf.identity(attributes)


def _with_attributes(tensor: tf.Tensor, name: str, attributes: tf.Tensor, num_attributes: int,
                     binary: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """Both inputs checked (`_checked`, `_checked_attributes`), and refused unless their batch
    sizes agree."""
    tensor = _checked(tensor, name)
    attributes = _checked_attributes(attributes, num_attributes, binary)
    same = tf.debugging.Assert(tf.shape(tensor)[0] == tf.shape(attributes)[0],
                               [f"{name} and attributes need the same batch size; got",
                                tf.shape(tensor)[0], tf.shape(attributes)[0]])
    with tf.control_dependencies([same]):
        return tf.identity(tensor), tf.identity(attributes)


def encoder_module(encoder: keras.Model, crop: str, image_size: int,
                   num_attributes: int = 0, binary: bool = True) -> tf.Module:
    """A tf.Module with `encode` (images) and `encode_jpeg` (image bytes), in inference mode.

    A conditional encoder (num_attributes > 0) takes `attributes` [B, A] float32 beside either,
    in [0, 1] when `binary` (_checked_attributes).
    """
    s = image_size
    module = _module(encoder)
    images = tf.TensorSpec([None, s, s, 3], tf.float32, name="images")
    image_bytes = tf.TensorSpec([None], tf.string, name="image_bytes")

    def outputs(x, attributes=None):
        mean, log_var = encoder(x, attributes=attributes, training=False)
        return {"mean": tf.cast(mean, tf.float32), "log_var": tf.cast(log_var, tf.float32)}

    if num_attributes:
        y = tf.TensorSpec([None, num_attributes], tf.float32, name="attributes")

        @tf.function(input_signature=[images, y])
        def encode(images, attributes):
            return outputs(*_with_attributes(images, "images", attributes, num_attributes, binary))

        @tf.function(input_signature=[image_bytes, y])
        def encode_jpeg(image_bytes, attributes):
            image_bytes, attributes = _with_attributes(image_bytes, "image_bytes", attributes,
                                                       num_attributes, binary)
            return outputs(decode_images(image_bytes, crop, image_size), attributes)
    else:
        @tf.function(input_signature=[images])
        def encode(images):
            return outputs(_checked(images, "images"))

        @tf.function(input_signature=[image_bytes])
        def encode_jpeg(image_bytes):
            return encode(decode_images(_checked(image_bytes, "image_bytes"), crop, image_size))

    module.encode, module.encode_jpeg = encode, encode_jpeg
    return module


def decoder_module(decoder: keras.Model, latent_dim: int, num_attributes: int = 0,
                   binary: bool = True) -> tf.Module:
    """A tf.Module with `decode` (images) and `decode_png` (PNG bytes), both in inference mode.

    A conditional decoder (num_attributes > 0) takes `attributes` [B, A] float32 beside `z`, in
    [0, 1] when `binary` (_checked_attributes).
    """
    module = _module(decoder)
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")

    def images(z, attributes=None):
        return {"images": tf.cast(decoder(z, attributes=attributes, training=False), tf.float32)}

    if num_attributes:
        y = tf.TensorSpec([None, num_attributes], tf.float32, name="attributes")

        @tf.function(input_signature=[z_spec, y])
        def decode(z, attributes):
            return images(*_with_attributes(z, "z", attributes, num_attributes, binary))

        @tf.function(input_signature=[z_spec, y])
        def decode_png(z, attributes):
            return {"png_bytes": to_png(decode(z, attributes)["images"])}
    else:
        @tf.function(input_signature=[z_spec])
        def decode(z):
            return images(_checked(z, "z"))

        @tf.function(input_signature=[z_spec])
        def decode_png(z):
            return {"png_bytes": to_png(decode(z)["images"])}

    module.decode, module.decode_png = decode, decode_png
    return module
