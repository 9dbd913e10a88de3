"""Training's checkpoints: saving every --checkpoint_every steps, resuming from the newest
readable one, and never saving a state that is not finite (the format: model/checkpoint.py)."""

from __future__ import annotations

import glob
import os
import shutil

import tensorflow as tf
from absl import logging

from vaegan_tf.config import Config
from vaegan_tf.errors import CheckpointError, WriteError, os_reason
from vaegan_tf.model.checkpoint import UNREADABLE, first_line, make_checkpoint
from vaegan_tf.model.forward import all_finite
from vaegan_tf.training import cluster_faults
from vaegan_tf.training.step_clock import StepCallback
from vaegan_tf.workdir import Workdir


def make_manager(model, workdir: str | Workdir, config: Config) -> tf.train.CheckpointManager:
    """The manager of a run's checkpoints (in its Workdir's checkpoints folder)."""
    return tf.train.CheckpointManager(make_checkpoint(model), Workdir.of(workdir).checkpoints,
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
            errors.append(f"{path}: {first_line(e)}")
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


def remove_partial(directory: str) -> list[str]:
    """Removes the "ckpt-N_temp" folders a save killed mid-write leaves (TensorFlow writes a
    checkpoint's shards there before merging them into ckpt-N); returns what it removed. Only the
    run's chief saves into its folder, so any it finds at start are a dead process's."""
    partial = sorted(glob.glob(os.path.join(glob.escape(directory), "ckpt-*_temp")))
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return partial


def save(manager: tf.train.CheckpointManager, model, step: int) -> str | None:
    """Writes a checkpoint unless the model is mid-divergence or holds a NaN/inf weight."""
    floats = [v.value for v in model.weights if "float" in str(v.dtype)]
    if int(model.bad_streak.numpy()) or not bool(all_finite(floats)):
        logging.warning("Not checkpointing step %d: the model is not in a finite state", step)
        return None
    try:
        path = manager.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as e:
        if cluster_faults.lost_worker(e):
            raise  # saving is collective under multi_worker: a peer went away, the disk is fine
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


class CheckpointCallback(StepCallback):
    """Saves every `every` steps and when fit() ends; stops training at `train_steps`."""

    def __init__(self, manager: tf.train.CheckpointManager, every: int, train_steps: int):
        super().__init__()
        self.manager, self.every, self.train_steps = manager, every, train_steps
        self.saved = 0

    def on_train_begin(self, logs=None):
        self.saved = self.step  # the checkpoint it resumed from, or none at step 0

    def on_train_batch_end(self, batch, logs=None):
        if self.step % self.every == 0:
            self._save()
        if self.step >= self.train_steps:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.save_now()

    def save_now(self) -> None:
        """Saves the current step unless it is saved already."""
        if self.step != self.saved:
            self._save()

    def _save(self):
        if save(self.manager, self.model, self.step):
            self.saved = self.step
