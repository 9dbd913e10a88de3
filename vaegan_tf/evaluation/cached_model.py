"""A network the evaluation trains once and keeps on disk: the attribute classifier and regressor.

A folder holds <name>.weights.h5 and <name>.json, the description of what the network was trained
on; it is reused only when that description matches, so one folder can serve several runs on the
same data (--classifier_dir, --regressor_dir), and a mismatch is an error, never an overwrite.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
from absl import logging

from vaegan_tf.errors import CheckpointError
from vaegan_tf.files import atomic_path, read_json, write_json


def _load(model: keras.Model, info_path: str, weights_path: str, folder: str, flag: str,
          wanted: dict, what: str) -> dict:
    info = read_json(info_path)
    if not isinstance(info, dict):
        raise CheckpointError(f"cannot read {info_path}: not a JSON description of a {what}")
    for key, value in wanted.items():
        if info.get(key) != value:
            raise CheckpointError(
                f"{flag}={folder} holds a cached {what} with {key}={info.get(key)!r}, "
                f"not {value!r}; use another {flag} (or delete that folder)")
    try:
        model.load_weights(weights_path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot load {weights_path}: {e}") from None
    logging.info("%s loaded from %s", what.capitalize(), folder)
    return info


def cached_model(folder: str, name: str, flag: str, wanted: dict, model: keras.Model,
                 train: Callable[[], keras.Model], what: str,
                 describe: Callable[[keras.Model], dict] | None = None) -> tuple[keras.Model, dict]:
    """The `name` network cached in `folder`, or one trained now and cached there.

    `model` is a built, untrained instance. When the folder holds a cached network whose recorded
    description agrees with `wanted`, its weights are loaded into `model`; a disagreeing one is an
    error naming the field and `flag` (the folder's command-line flag), so a cache shared between
    runs is never overwritten. Otherwise `train()` gives a trained network, cached with `wanted`
    plus whatever `describe(trained)` adds. Returns the network and its description.
    """
    info_path = os.path.join(folder, f"{name}.json")
    weights_path = os.path.join(folder, f"{name}.weights.h5")
    if os.path.isfile(info_path) and os.path.isfile(weights_path):
        return model, _load(model, info_path, weights_path, folder, flag, wanted, what)
    trained = train()
    info = dict(wanted)
    if describe is not None:
        info.update(describe(trained))
    # Weights first: the description is what marks the folder as holding a network.
    with atomic_path(weights_path, suffix=".weights.h5") as tmp:
        trained.save_weights(tmp)
    write_json(info_path, info)
    return trained, info
