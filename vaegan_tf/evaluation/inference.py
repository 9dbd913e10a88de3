"""A run restored from its checkpoint, and a trained model applied to arrays in batches: what
every offline mode does with a run (evaluate, attributes, sample, embed, table2, export) and with
its attribute networks."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import tensorflow as tf
from absl import logging

from vaegan_tf import data, run_record
from vaegan_tf.config import Config
from vaegan_tf.model.checkpoint import restore_networks
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.workdir import Workdir


def batched(fn: Callable, inputs: np.ndarray, batch_size: int, *more: np.ndarray):
    """fn applied to `inputs` (and the same rows of each of `more`) in batches of `batch_size`;
    its outputs (arrays, or tuples of arrays) concatenated along the first axis."""
    outs = [fn(tf.constant(inputs[i:i + batch_size]),
               *(tf.constant(m[i:i + batch_size]) for m in more))
            for i in range(0, len(inputs), batch_size)]
    if isinstance(outs[0], (tuple, list)):
        return tuple(np.concatenate([np.asarray(o[j]) for o in outs]) for j in range(len(outs[0])))
    return np.concatenate([np.asarray(o) for o in outs])


def split_images(config: Config, split: str, limit: int,
                 index: data.Index | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` (images, attributes) of a split, in file order (no flips)."""
    ds = data.make_dataset(config, split, training=False, index=index)
    images, attributes = [], []
    for x, y in ds.take(math.ceil(limit / config.batch_size)):
        images.append(np.asarray(x))
        attributes.append(np.asarray(y))
    return np.concatenate(images)[:limit], np.concatenate(attributes)[:limit]


def encode(model, images: np.ndarray, batch_size: int,
           attributes: np.ndarray | None = None) -> np.ndarray:
    """The posterior means μ(x) [N, latent_dim] (μ(x, y) of a conditional run's `attributes`)."""
    if attributes is None:
        return batched(lambda x: model.encoder(x, training=False)[0], images, batch_size)
    return batched(lambda x, y: model.encoder(x, attributes=y, training=False)[0], images,
                   batch_size, np.asarray(attributes, np.float32))


def decode(model, z: np.ndarray, batch_size: int,
           attributes: np.ndarray | None = None) -> np.ndarray:
    """Dec(z) [N, S, S, 3] (Dec(z, y) of a conditional run's `attributes`)."""
    if attributes is None:
        return batched(lambda z: model.decoder(z, training=False), z, batch_size)
    return batched(lambda z, y: model.decoder(z, attributes=y, training=False), z, batch_size,
                   np.asarray(attributes, np.float32))


def restore(run: Workdir, config: Config | None = None, checkpoint: str | None = None) -> VAEGAN:
    """The model of `config` (default: the recorded one) with the networks and step of
    `checkpoint` (default: config.checkpoint, else the run's newest), for inference."""
    config = config or run_record.load(run)
    path = run.checkpoint(config.checkpoint if checkpoint is None else checkpoint)
    model = VAEGAN(config)
    step = restore_networks(model, path)
    logging.info("Restored %s at step %d", path, step)
    return model


def restored(config: Config, workdir: str | Workdir):
    """The run in `workdir` restored for inference (restore) and its step."""
    model = restore(Workdir.of(workdir), config)
    return model, int(model.step.numpy())
