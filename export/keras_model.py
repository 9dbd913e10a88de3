"""The whole model as one Keras archive, export/vaegan.keras, for going on in Keras.

The SavedModels beside it are for serving (saved_model.py); this file is what
`keras.models.load_model` reads back into a VAEGAN: the three networks' weights and BN statistics,
and its Config (the archive's config.json), so `.encoder`, `.decoder` and `.discriminator` work as
they did in training. Optimizer slots stay in the checkpoints.

Only one vaegan.keras exists per run, so a newer one is never replaced by an older state
(`--mode=export --checkpoint=<an earlier one>`): the step it was saved at is read from the
archive first. It is written beside its final name and renamed, so a crash leaves the old file.
"""

from __future__ import annotations

import json
import os
import zipfile

import keras
from absl import logging

from vaegan_tf.errors import WriteError, os_reason
from vaegan_tf.files import atomic_path

KERAS_FILE = "vaegan.keras"


def saved_step(path: str) -> int | None:
    """The training step a vaegan.keras was saved at; None if there is none or it is unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            return int(json.loads(archive.read("config.json"))["config"]["step"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


def write_keras(model: keras.Model, export_dir: str) -> str | None:
    """Saves `model` as export_dir/vaegan.keras unless that file holds the same or a later step;
    returns the path written, or None."""
    path = os.path.join(export_dir, KERAS_FILE)
    step = int(model.step.numpy())
    existing = saved_step(path)
    if existing is not None and existing >= step:
        logging.info("%s holds step %d; not replaced by step %d", path, existing, step)
        return None
    try:
        with atomic_path(path, suffix=".keras") as staging:  # Keras wants the .keras extension
            model.save(staging)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {os_reason(e)}; the previous file is intact") from None
    return path
