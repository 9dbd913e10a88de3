"""Checkpoints of the three networks, their optimizers, the step and the noise generator state.

Network variables are stored under their Keras paths ("conv2/kernel"), not through the Python
object graph: Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint's graph, so
relying on it silently drops weights. No pickled code is stored; a checkpoint is read back into
freshly built models, whose optimizers are built first so their slots are matched.
"""

from __future__ import annotations

import glob
import os
import shutil

import keras
import tensorflow as tf
from absl import logging

from vaegan_tf.config import Config
from vaegan_tf.errors import CheckpointError, WriteError, os_reason
from vaegan_tf.model import all_finite


# What a damaged or mismatched checkpoint raises while being read (a truncated data file gives
# IndexError from TF's reader).
UNREADABLE = (tf.errors.OpError, AssertionError, ValueError, IndexError, OSError)


def network_variables(network: keras.Model) -> dict[str, keras.Variable]:
    """Every variable of a network (BN statistics included) keyed by its path inside the network."""
    prefix = network.name + "/"
    variables = {v.path.removeprefix(prefix): v for v in network.weights}
    if len(variables) != len(network.weights):
        raise ValueError(f"{network.name} has variables with the same path")
    return variables


def make_checkpoint(model) -> tf.train.Checkpoint:
    objects = {n: network_variables(net) for n, net in model.networks.items()}
    objects.update({f"{n}_optimizer": opt for n, opt in model.optimizers.items()})
    return tf.train.Checkpoint(step=model.step, noise=model.noise.state,
                               eval_noise=model.eval_noise.state, lr_scale=model.lr_scale, **objects)


def make_manager(model, workdir: str, config: Config) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(make_checkpoint(model), os.path.join(workdir, "checkpoints"),
                                      max_to_keep=config.keep_checkpoints)


def restore_latest(manager: tf.train.CheckpointManager) -> int:
    """Restores the newest readable checkpoint; returns the step it holds (0 if there is none).

    A checkpoint that cannot be read (a truncated file, a disk error) is reported and the next
    older one tried, so a crash while writing never costs more than one checkpoint interval.
    """
    errors = []
    for path in reversed(manager.checkpoints):
        try:
            manager.checkpoint.restore(path).assert_existing_objects_matched()
        except UNREADABLE as e:
            errors.append(f"{path}: {str(e).strip().splitlines()[0]}")
            logging.warning("Cannot restore %s", errors[-1])
            continue
        step = int(manager.checkpoint.step.numpy())
        if errors:
            logging.warning("Fell back to the older checkpoint %s (step %d)", path, step)
        logging.info("Resumed from %s at step %d", path, step)
        return step
    if errors:
        raise CheckpointError(f"no checkpoint in {manager.directory} can be restored; "
                              f"newest: {errors[0]}")
    return 0


def resolve(workdir: str, checkpoint: str = "") -> str:
    """The checkpoint prefix an offline mode reads: `checkpoint` (a prefix such as
    WORKDIR/checkpoints/ckpt-400, or a folder: its newest), else the newest in WORKDIR/checkpoints.
    One that does not exist is a CheckpointError naming it, never a silent fallback."""
    if not checkpoint:
        path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
        if not path:
            raise CheckpointError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')}: "
                                  f"train first (--mode=train --workdir={workdir}) "
                                  "or pass --checkpoint")
        return path
    if os.path.isdir(checkpoint):
        path = tf.train.latest_checkpoint(checkpoint)
        if not path:
            raise CheckpointError(f"--checkpoint={checkpoint}: no checkpoint in this folder")
        return path
    if not os.path.exists(checkpoint + ".index"):
        raise CheckpointError(f"--checkpoint={checkpoint}: no such checkpoint (expected "
                              f"{checkpoint}.index, e.g. {workdir}/checkpoints/ckpt-1000)")
    return checkpoint


def restore_networks(model, path: str) -> int:
    """Only the networks and the step from checkpoint `path`; returns the step.

    For inference (export, evaluation): optimizer slots and training-only state are not read, so
    checkpoints stay usable when those change.
    """
    objects = {n: network_variables(net) for n, net in model.networks.items()}
    try:
        tf.train.Checkpoint(step=model.step, **objects).restore(path).expect_partial() \
            .assert_existing_objects_matched()
    except UNREADABLE as e:
        raise CheckpointError(f"cannot restore {path} into --model={model.config.model}: "
                              f"{str(e).strip().splitlines()[0]}") from None
    return int(model.step.numpy())


def save(manager: tf.train.CheckpointManager, model, step: int) -> str | None:
    """Writes a checkpoint unless the model is mid-divergence or holds a NaN/inf weight."""
    floats = [v.value for v in model.weights if "float" in str(v.dtype)]
    if int(model.bad_streak.numpy()) or not bool(all_finite(floats)):
        logging.warning("Not checkpointing step %d: the model is not in a finite state", step)
        return None
    try:
        path = manager.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as e:
        # TF writes into ckpt-N_temp and names the checkpoint in the `checkpoint` file last, so
        # the older checkpoints are untouched; only this one's partial files need removing.
        prefix = os.path.join(manager.directory, f"ckpt-{step}")
        shutil.rmtree(prefix + "_temp", ignore_errors=True)
        for partial in glob.glob(glob.escape(prefix) + ".*"):
            os.remove(partial)
        raise WriteError(f"cannot write checkpoint {prefix}: {os_reason(e)}; the newest complete "
                         f"one, {manager.latest_checkpoint or '(none)'}, is intact: free space and "
                         "rerun the same command to resume from it") from None
    logging.info("Saved checkpoint %s", path)
    return path


def load_discriminator(discriminator: keras.Model, workdir: str) -> str:
    """Loads Dis (for vae_disl's frozen Dis_l) from the newest checkpoint in an earlier workdir."""
    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if not path:
        raise CheckpointError(f"--disl_from={workdir}: no checkpoint in {workdir}/checkpoints; "
                              "train a gan or vaegan there first")
    try:
        tf.train.Checkpoint(discriminator=network_variables(discriminator)).restore(path) \
            .expect_partial().assert_existing_objects_matched()
    except UNREADABLE as e:
        raise CheckpointError(f"--disl_from={workdir}: its discriminator does not fit this config "
                              f"(check --dis_width, --fc_width, --image_size): "
                              f"{str(e).splitlines()[0]}") from None
    return path


class CheckpointCallback(keras.callbacks.Callback):
    """Saves every `every` steps and when fit() ends; stops training at `train_steps`."""

    def __init__(self, manager: tf.train.CheckpointManager, every: int, train_steps: int):
        super().__init__()
        self.manager, self.every, self.train_steps = manager, every, train_steps
        self.step = self.saved = 0

    def on_train_begin(self, logs=None):
        self.step = self.saved = int(self.model.step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1  # counted on the host: reading model.step would sync with the device
        if self.step % self.every == 0:
            self._save()
        if self.step >= self.train_steps:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.step != self.saved:
            self._save()

    def _save(self):
        if save(self.manager, self.model, self.step):
            self.saved = self.step
