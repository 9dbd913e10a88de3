"""A run's TensorBoard files: a writer for each of its folders, and its HParams record."""

from __future__ import annotations

import os

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from vaegan_tf.config import RESUME_SAFE_FIELDS, Config
from vaegan_tf.workdir import Workdir


def summary_writer(run: Workdir, *folder: str) -> tf.summary.SummaryWriter:
    """A writer for WORKDIR/tensorboard/<folder> (the offline modes share "evaluate")."""
    return tf.summary.create_file_writer(os.path.join(run.tensorboard, *folder))


def hyperparameters(config: Config) -> dict:
    """The fields that shape what a run learns: all but how long and loudly it runs, where its
    files are and what the offline modes measure (RESUME_SAFE_FIELDS), keeping train_steps."""
    return {k: v for k, v in config.to_dict().items()
            if k not in RESUME_SAFE_FIELDS or k == "train_steps"}


def write_hparams(run: Workdir, config: Config) -> None:
    """Records the run in TensorBoard's HParams dashboard, at the root of its logdir.

    The dashboard pairs each run's hyperparameters with the last value of every scalar in the
    folders below (train/, validation/, evaluate/), so `tensorboard --logdir runs/` lines up
    several runs' final metrics in one table. The run is named after its folder. No experiment is
    declared: TensorBoard then works out from all runs together which hyperparameters differ
    (those columns come first) and the values each takes, which no single run can declare.
    """
    writer = summary_writer(run)
    with writer.as_default():
        trial = os.path.basename(os.path.normpath(os.path.abspath(run.path)))
        hparams_api.hparams(hyperparameters(config), trial_id=trial)
    writer.close()
