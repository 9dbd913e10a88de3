"""SavedModels of Enc and Dec that TF Serving loads as they are, plus the models.config naming them.

Layout under the workdir (the version is the training step):
    export/encoder/<step>/   serving_default: images float32 [B, S, S, 3] in [-1, 1] -> mean,
                                              log_var (float32 [B, latent])
                             encode_jpeg:     image_bytes string [B] (JPEG/PNG) -> mean, log_var
    export/decoder/<step>/   serving_default: z float32 [B, latent] -> images float32 [B, S, S, 3]
                             decode_png:      z float32 [B, latent] -> png_bytes string [B]
    export/models.config     ModelServerConfig text proto for `tensorflow_model_server`
    export/vaegan.keras      the whole model for `keras.models.load_model` (keras_model.py)
A `gan` has no encoder, so only the decoder is exported. A conditional run's (--conditional)
signatures all take a second input `attributes` float32 [B, A], the vector y, beside the first.

An existing version is never overwritten: exporting a step that is already there is skipped with a
log line (the same step of the same run holds the same weights). A version appears atomically: it
is written under export/.tmp/ and renamed into place, so TF Serving never sees half a SavedModel.
The PNG output is named `png_bytes` because TF Serving's REST API base64-encodes a string output
only when its name ends in `_bytes`; under any other name raw PNG bytes would be put into JSON.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import keras
import tensorflow as tf
from absl import logging

from export.keras_model import write_keras
from vaegan_tf import checkpointing
from vaegan_tf.config import Config
from vaegan_tf.data import preprocess
from vaegan_tf.errors import CheckpointError, WriteError, os_reason
from vaegan_tf.model import VAEGAN

EXPORT_DIR = "export"
MODELS_CONFIG = "models.config"
# Signature name -> the module's tf.function behind it, per exported model.
SIGNATURES = {
    "encoder": {"serving_default": "encode", "encode_jpeg": "encode_jpeg"},
    "decoder": {"serving_default": "decode", "decode_png": "decode_png"},
}


class ExportError(CheckpointError):
    """A workdir or checkpoint cannot be exported; the message names the path."""


# --- the serving functions ---

def decode_images(image_bytes: tf.Tensor, crop: str, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG strings [B] -> float32 [B, S, S, 3] in [-1, 1], exactly as in training."""

    def one(args):
        contents, index = args
        # decode_image would also take GIF and BMP, which training never sees; and its own error
        # for non-image bytes does not say which input was at fault.
        header = tf.strings.substr(contents, 0, 4)
        is_image = tf.logical_or(tf.strings.substr(header, 0, 2) == b"\xff\xd8",
                                 header == b"\x89PNG")
        message = tf.strings.format("image_bytes[{}] is not a decodable JPEG or PNG image", index)
        with tf.control_dependencies([tf.debugging.Assert(is_image, [message])]):
            image = tf.io.decode_image(contents, channels=3, expand_animations=False)
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


def _with_attributes(tensor: tf.Tensor, name: str, attributes: tf.Tensor) -> tuple[tf.Tensor,
                                                                                  tf.Tensor]:
    """Both inputs checked as `_checked` does, and refused unless their batch sizes agree."""
    tensor, attributes = _checked(tensor, name), _checked(attributes, "attributes")
    same = tf.debugging.Assert(tf.shape(tensor)[0] == tf.shape(attributes)[0],
                               [f"{name} and attributes need the same batch size; got",
                                tf.shape(tensor)[0], tf.shape(attributes)[0]])
    with tf.control_dependencies([same]):
        return tf.identity(tensor), tf.identity(attributes)


def encoder_module(encoder: keras.Model, crop: str, image_size: int,
                   num_attributes: int = 0) -> tf.Module:
    """A tf.Module with `encode` (images) and `encode_jpeg` (image bytes), in inference mode.

    A conditional encoder (num_attributes > 0) takes `attributes` [B, A] float32 beside either.
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
            return outputs(*_with_attributes(images, "images", attributes))

        @tf.function(input_signature=[image_bytes, y])
        def encode_jpeg(image_bytes, attributes):
            image_bytes, attributes = _with_attributes(image_bytes, "image_bytes", attributes)
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


def decoder_module(decoder: keras.Model, latent_dim: int, num_attributes: int = 0) -> tf.Module:
    """A tf.Module with `decode` (images) and `decode_png` (PNG bytes), both in inference mode.

    A conditional decoder (num_attributes > 0) takes `attributes` [B, A] float32 beside `z`.
    """
    module = _module(decoder)
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")

    def images(z, attributes=None):
        return {"images": tf.cast(decoder(z, attributes=attributes, training=False), tf.float32)}

    if num_attributes:
        y = tf.TensorSpec([None, num_attributes], tf.float32, name="attributes")

        @tf.function(input_signature=[z_spec, y])
        def decode(z, attributes):
            return images(*_with_attributes(z, "z", attributes))

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


# --- writing versions and models.config ---

def _save(module: tf.Module, export_dir: str, name: str, version: int) -> str | None:
    """Saves `module` as export_dir/name/version unless that version exists; returns its path."""
    final = os.path.join(export_dir, name, str(version))
    if os.path.exists(final):
        logging.info("%s already exists; not overwritten", final)
        return None
    # Outside the model's base path: TF Serving must never see a half-written version.
    staging = os.path.join(export_dir, ".tmp", f"{name}-{version}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        signatures = {key: getattr(module, fn) for key, fn in SIGNATURES[name].items()}
        try:
            tf.saved_model.save(module, staging, signatures=signatures)
            os.makedirs(os.path.dirname(final), exist_ok=True)
        except (tf.errors.OpError, OSError) as e:
            raise WriteError(f"cannot write SavedModel {final}: {os_reason(e)}; the versions "
                             f"already in {os.path.dirname(final)} are intact") from None
        try:
            os.rename(staging, final)
        except OSError:
            if not os.path.isdir(final):
                raise
            # Another process (a training run, --mode=export) exported this version meanwhile.
            logging.info("%s already exists; not overwritten", final)
            return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(staging))  # only once no other export is staging there
    return final


def models_config_text(export_dir: str, names: list[str]) -> str:
    """A ModelServerConfig text proto serving each named model from export_dir/<name>."""
    entries = []
    for name in names:
        base = os.path.abspath(os.path.join(export_dir, name))
        escaped = base.replace("\\", "\\\\").replace('"', '\\"')
        entries.append(f'  config {{\n    name: "{name}"\n    base_path: "{escaped}"\n'
                       f'    model_platform: "tensorflow"\n  }}\n')
    return "model_config_list {\n" + "".join(entries) + "}\n"


def write_models_config(export_dir: str, names: list[str]) -> str:
    path = os.path.join(export_dir, MODELS_CONFIG)
    with open(path + ".tmp", "w") as f:
        f.write(models_config_text(export_dir, names))
    os.replace(path + ".tmp", path)  # atomic: a server polling the file never reads half of it
    return path


def export_model(model: VAEGAN, workdir: str, version: int) -> dict[str, str | None]:
    """Exports model's encoder (if any) and decoder as `version` under workdir/export.

    Returns {model name: path written, or None where that version already existed}.
    """
    c = model.config
    export_dir = os.path.join(workdir, EXPORT_DIR)
    modules = {}
    attributes = c.num_attributes if c.conditional else 0
    if model.encoder is not None:
        modules["encoder"] = encoder_module(model.encoder, c.crop, c.image_size, attributes)
    modules["decoder"] = decoder_module(model.decoder, c.latent_dim, attributes)
    written = {name: _save(module, export_dir, name, version) for name, module in modules.items()}
    write_models_config(export_dir, list(modules))
    return written


# --- from a workdir's checkpoint ---

def _checkpoint_path(workdir: str, checkpoint: str | None) -> str:
    try:
        return checkpointing.resolve(workdir, checkpoint or "")
    except CheckpointError as e:
        raise ExportError(str(e)) from None


def restore_model(workdir: str, checkpoint: str | None = None) -> tuple[VAEGAN, str]:
    """The model of workdir/config.json with the networks and step of a checkpoint (default:
    the newest in workdir/checkpoints)."""
    if not os.path.isdir(workdir):
        raise ExportError(f"--workdir={workdir} does not exist")
    config_path = os.path.join(workdir, "config.json")
    if not os.path.exists(config_path):
        raise ExportError(f"{workdir} holds no config.json: "
                          "--workdir must be the folder of a training run")
    config = Config.load(config_path)
    path = _checkpoint_path(workdir, checkpoint)
    model = VAEGAN(config)
    checkpointing.restore_networks(model, path)
    return model, path


def export_from_workdir(workdir: str, checkpoint: str | None = None) -> dict[str, str | None]:
    """Restores a checkpoint of a training run and exports it, versioned by its training step:
    the SavedModels and export/vaegan.keras ({'encoder', 'decoder', 'keras': path or None})."""
    model, path = restore_model(workdir, checkpoint)
    step = int(model.step.numpy())
    logging.info("Exporting %s (step %d)", path, step)
    written = export_model(model, workdir, step)
    written["keras"] = write_keras(model, os.path.join(workdir, EXPORT_DIR))
    log_written(step, written)
    return written


def log_written(step: int, written: dict[str, str | None]) -> None:
    """One line for an export's files (those that already existed are logged where skipped)."""
    paths = [p for p in written.values() if p]
    if paths:
        logging.info("Exported step %d: %s", step, ", ".join(paths))


class ExportCallback(keras.callbacks.Callback):
    """Exports every `every` steps (0 = never during training) and once when training ends, but
    only a state that `checkpoints` (the run's CheckpointCallback, placed before this callback)
    has just saved.

    So an export is always a finite, non-diverging state that a checkpoint of the same step holds:
    a run stopped for divergence exports nothing, and a rollback (faults.py), which returns to the
    newest checkpoint, never leaves an export of the abandoned steps behind it.
    """

    def __init__(self, workdir: str, every: int, checkpoints: checkpointing.CheckpointCallback):
        super().__init__()
        self.workdir, self.every, self.checkpoints = workdir, every, checkpoints
        self.step = self.exported = 0

    def on_train_begin(self, logs=None):
        self.step = int(self.model.step.numpy())
        self.exported = -1

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1  # counted on the host, like CheckpointCallback
        if self.every and self.step % self.every == 0:
            self._export()

    def on_train_end(self, logs=None):
        if self.step != self.exported:
            self._export()

    def _export(self):
        if self.checkpoints.saved != self.step:
            logging.warning("Not exporting step %d: no checkpoint of it was written (the model is "
                            "not in a finite state)", self.step)
            return
        written = export_model(self.model, self.workdir, self.step)
        written["keras"] = write_keras(self.model, os.path.join(self.workdir, EXPORT_DIR))
        log_written(self.step, written)
        self.exported = self.step
