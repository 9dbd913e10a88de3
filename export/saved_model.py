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

import os

import tensorflow as tf
from absl import logging

from export.keras_model import write_keras
from export.signatures import SIGNATURES, decoder_module, encoder_module
from vaegan_tf.errors import WriteError, os_reason
from vaegan_tf.files import AlreadyExists, atomic_path, write_text
from vaegan_tf.evaluation import inference
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.training.checkpointing import CheckpointCallback
from vaegan_tf.training.step_clock import StepCallback
from vaegan_tf.workdir import Workdir

MODELS_CONFIG = "models.config"


# --- writing versions and models.config ---

def _save(module: tf.Module, export_dir: str, name: str, version: int) -> str | None:
    """Saves `module` as export_dir/name/version unless that version exists; returns its path."""
    final = os.path.join(export_dir, name, str(version))
    if os.path.exists(final):
        logging.info("%s already exists; not overwritten", final)
        return None
    signatures = {key: getattr(module, fn) for key, fn in SIGNATURES[name].items()}
    try:
        # Staged outside the model's base path: TF Serving must never see a half-written version.
        with atomic_path(final, staging_dir=os.path.join(export_dir, ".tmp"),
                         replace=False) as staging:
            tf.saved_model.save(module, staging, signatures=signatures)
    except AlreadyExists:
        # Another process (a training run, --mode=export) exported this version meanwhile.
        logging.info("%s already exists; not overwritten", final)
        return None
    except (tf.errors.OpError, OSError) as e:
        raise WriteError(f"cannot write SavedModel {final}: {os_reason(e)}; the versions "
                         f"already in {os.path.dirname(final)} are intact") from None
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
    write_text(path, models_config_text(export_dir, names))  # a polling server never reads half
    return path


def export_model(model: VAEGAN, workdir: str | Workdir, version: int) -> dict[str, str | None]:
    """Exports model's encoder (if any) and decoder as `version` under workdir/export.

    Returns {model name: path written, or None where that version already existed}.
    """
    c = model.config
    export_dir = Workdir.of(workdir).export
    modules = {}
    attributes = c.num_attributes if c.conditional else 0
    if model.encoder is not None:
        modules["encoder"] = encoder_module(model.encoder, c.crop, c.image_size, attributes,
                                            c.binary_attributes)
    modules["decoder"] = decoder_module(model.decoder, c.latent_dim, attributes,
                                        c.binary_attributes)
    written = {name: _save(module, export_dir, name, version) for name, module in modules.items()}
    write_models_config(export_dir, list(modules))
    return written


# --- from a workdir's checkpoint ---

def export_mode(workdir: str | Workdir,
                checkpoint: str | None = None) -> dict[str, str | None]:
    """Restores a checkpoint of a training run (default: its newest) and exports it, versioned
    by its training step: the SavedModels and export/vaegan.keras ({'encoder', 'decoder',
    'keras': path or None})."""
    run = Workdir.of(workdir)
    model = inference.restore(run, checkpoint=checkpoint or "")
    return _export(model, run)


def _export(model: VAEGAN, run: Workdir) -> dict[str, str | None]:
    step = int(model.step.numpy())
    written = export_model(model, run, step)
    written["keras"] = write_keras(model, run.export)
    log_written(step, written)
    return written


def log_written(step: int, written: dict[str, str | None]) -> None:
    """One line for an export's files (those that already existed are logged where skipped)."""
    paths = [p for p in written.values() if p]
    if paths:
        logging.info("Exported step %d: %s", step, ", ".join(paths))


class ExportCallback(StepCallback):
    """Exports every `every` steps (0 = never during training) and once when training ends, but
    only a state that `checkpoints` (the run's CheckpointCallback, placed before this callback)
    has just saved.

    So an export is always a finite, non-diverging state that a checkpoint of the same step holds:
    a run stopped for divergence exports nothing, and a rollback (faults.py), which returns to the
    newest checkpoint, never leaves an export of the abandoned steps behind it.
    """

    def __init__(self, workdir: str | Workdir, every: int, checkpoints: CheckpointCallback):
        super().__init__()
        self.run, self.every, self.checkpoints = Workdir.of(workdir), every, checkpoints
        self.exported = -1

    def on_train_begin(self, logs=None):
        self.exported = -1

    def on_train_batch_end(self, batch, logs=None):
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
        _export(self.model, self.run)
        self.exported = self.step


def exports(every: int):
    """What train_mode's `chief_callbacks` takes to export during training: SavedModels
    every `every` steps (0 = only at the end), of checkpointed states only."""
    def make(workdir: Workdir, checkpoints: CheckpointCallback) -> ExportCallback:
        return ExportCallback(workdir, every, checkpoints)
    return make
