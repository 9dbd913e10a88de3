"""Reading a trained run back for the offline modes (evaluate, attributes, sample).

The run's own `config.json` says what the networks are; from the command line only the fields in
OFFLINE_FIELDS (what to measure, where the classifier lives) and --data_dir are taken.
"""

from __future__ import annotations

import json
import math
import os
from typing import Iterable

import numpy as np
import tensorflow as tf
from absl import logging

from vaegan_tf import checkpointing, data
from vaegan_tf.config import OFFLINE_FIELDS, Config
from vaegan_tf.errors import CheckpointError
from vaegan_tf.model import VAEGAN

# Recorded fields the command line may still override when given explicitly.
OVERRIDABLE = ("data_dir", "batch_size")


def run_config(workdir: str, flags_config: Config, explicit: Iterable[str] = ()) -> Config:
    """The config recorded in `workdir`, with OFFLINE_FIELDS from `flags_config` and the
    OVERRIDABLE fields named in `explicit` (the flags the user actually gave)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise CheckpointError(f"{workdir} holds no trained run ({path} not found); "
                              "train one there first with --mode=train")
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None
    explicit = set(explicit)
    # Offline fields replace the recorded ones before validation: a weights file given to an
    # earlier command may be gone now without making the run unreadable.
    values.update({f: getattr(flags_config, f) for f in OFFLINE_FIELDS})
    values.update({f: getattr(flags_config, f) for f in OVERRIDABLE if f in explicit})
    ignored = sorted(f for f in explicit - set(OFFLINE_FIELDS) - set(OVERRIDABLE)
                     if f in values and getattr(flags_config, f) != values[f])
    if ignored:
        logging.warning("Using %s for %s, not the flags given", path, ", ".join(ignored))
    return Config.from_dict(values)


def restore_model(config: Config, workdir: str) -> tuple[VAEGAN, int]:
    """The run's model restored from config.checkpoint (default: its newest), and its step."""
    path = checkpointing.resolve(workdir, config.checkpoint)
    model = VAEGAN(config)
    step = checkpointing.restore_networks(model, path)
    logging.info("Restored %s at step %d", path, step)
    return model, step


def split_images(config: Config, split: str, limit: int,
                 index: data.CelebAIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` (images, attributes) of a split, in file order (no flips)."""
    ds = data.make_dataset(config, split, training=False, index=index)
    images, attributes = [], []
    for x, y in ds.take(math.ceil(limit / config.batch_size)):
        images.append(np.asarray(x))
        attributes.append(np.asarray(y))
    return np.concatenate(images)[:limit], np.concatenate(attributes)[:limit]


def batched(fn, inputs: np.ndarray, batch_size: int, *more: np.ndarray):
    """fn applied to `inputs` (and the same rows of each of `more`) in batches; outputs (arrays or
    tuples of arrays) concatenated."""
    outs = [fn(tf.constant(inputs[i:i + batch_size]),
               *(tf.constant(m[i:i + batch_size]) for m in more))
            for i in range(0, len(inputs), batch_size)]
    if isinstance(outs[0], (tuple, list)):
        return tuple(np.concatenate([np.asarray(o[j]) for o in outs]) for j in range(len(outs[0])))
    return np.concatenate([np.asarray(o) for o in outs])


def encode(model: VAEGAN, images: np.ndarray, batch_size: int,
           attributes: np.ndarray | None = None) -> np.ndarray:
    """The posterior means μ(x) [N, latent_dim] (μ(x, y) of a conditional run's `attributes`)."""
    if attributes is None:
        return batched(lambda x: model.encoder(x, training=False)[0], images, batch_size)
    return batched(lambda x, y: model.encoder(x, attributes=y, training=False)[0], images,
                   batch_size, np.asarray(attributes, np.float32))


def decode(model: VAEGAN, z: np.ndarray, batch_size: int,
           attributes: np.ndarray | None = None) -> np.ndarray:
    """Dec(z) [N, S, S, 3] (Dec(z, y) of a conditional run's `attributes`)."""
    if attributes is None:
        return batched(lambda z: model.decoder(z, training=False), z, batch_size)
    return batched(lambda z, y: model.decoder(z, attributes=y, training=False), z, batch_size,
                   np.asarray(attributes, np.float32))


def evaluate_writer(workdir: str) -> tf.summary.SummaryWriter:
    """The TensorBoard writer the offline modes share (`tensorboard/evaluate`)."""
    return tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "evaluate"))


def append_jsonl(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
