"""A run's folder (--workdir): what lives where in it, its recorded config, its checkpoints.

    config.json        the run's Config, written by training; every other mode reads it
    checkpoints/       ckpt-N: networks, optimizers, step (model/checkpoint.py)
    samples/           sample and reconstruction grids as PNGs
    tensorboard/       training summaries; evaluate/ (offline modes), projector/ (--mode=embed)
    export/            SavedModels for TF Serving, models.config, vaegan.keras (export/)
    data/              the synthetic faces (--dataset=synthetic without --data_dir)
    folder_index.json  --dataset=folder: the pictures the run trains on, checked on resume
    cache/             preprocessed crops of splits too big for memory (--cache=file/auto)
    classifier/, regressor/   evaluation's attribute networks, trained once and kept
    metrics.jsonl      one line per --mode=evaluate; benchmark.json, profile/: --mode=benchmark
    attribute_vectors.npz, attribute_efficacy.json    --mode=attributes
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Iterable

import tensorflow as tf
from absl import logging
from tensorboard.plugins.hparams import api as hparams_api

from vaegan_tf.config import OFFLINE_FIELDS, OVERRIDABLE_FIELDS, RESUME_SAFE_FIELDS, Config
from vaegan_tf.errors import CheckpointError
from vaegan_tf.files import write_text
from vaegan_tf.model.checkpoint import restore_networks
from vaegan_tf.model.vaegan import VAEGAN

def hyperparameters(config: Config) -> dict:
    """The fields that shape what a run learns: all but how long and loudly it runs, where its
    files are and what the offline modes measure (RESUME_SAFE_FIELDS), keeping train_steps."""
    return {k: v for k, v in config.to_dict().items()
            if k not in RESUME_SAFE_FIELDS or k == "train_steps"}


@dataclasses.dataclass(frozen=True)
class Workdir:
    path: str

    def join(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    config_file = property(lambda self: self.join("config.json"))
    checkpoints = property(lambda self: self.join("checkpoints"))
    samples = property(lambda self: self.join("samples"))
    tensorboard = property(lambda self: self.join("tensorboard"))
    export = property(lambda self: self.join("export"))
    data = property(lambda self: self.join("data"))
    cache = property(lambda self: self.join("cache"))
    folder_index = property(lambda self: self.join("folder_index.json"))
    classifier = property(lambda self: self.join("classifier"))
    regressor = property(lambda self: self.join("regressor"))
    metrics = property(lambda self: self.join("metrics.jsonl"))
    benchmark = property(lambda self: self.join("benchmark.json"))
    profile = property(lambda self: self.join("profile"))
    attribute_vectors = property(lambda self: self.join("attribute_vectors.npz"))
    attribute_efficacy = property(lambda self: self.join("attribute_efficacy.json"))
    projector = property(lambda self: self.join("tensorboard", "projector"))

    def sample_png(self, name: str) -> str:
        return self.join("samples", name)

    def summary_writer(self, *folder: str) -> tf.summary.SummaryWriter:
        """A TensorBoard writer for tensorboard/<folder> (the offline modes share "evaluate")."""
        return tf.summary.create_file_writer(os.path.join(self.tensorboard, *folder))

    def write_hparams(self, config: Config) -> None:
        """Records the run in TensorBoard's HParams dashboard, at the root of its logdir.

        The dashboard pairs each run's hyperparameters with the last value of every scalar in
        the folders below (train/, validation/, evaluate/), so `tensorboard --logdir runs/` lines
        up several runs' final metrics in one table. The run is named after its folder. No
        experiment is declared: TensorBoard then works out from all runs together which
        hyperparameters differ (those columns come first) and the values each takes, which no
        single run can declare.
        """
        writer = self.summary_writer()
        with writer.as_default():
            trial = os.path.basename(os.path.normpath(os.path.abspath(self.path)))
            hparams_api.hparams(hyperparameters(config), trial_id=trial)
        writer.close()

    # --- config.json ---

    def with_defaults(self, config: Config) -> Config:
        """Fills the fields whose defaults are folders of this run: the synthetic faces and the
        file cache go under it."""
        if not config.data_dir and config.dataset == "synthetic":
            config = config.replace(data_dir=self.data)
        if not config.cache_dir and config.cache in ("auto", "file"):
            config = config.replace(cache_dir=self.cache)
        return config

    def recorded(self) -> dict | None:
        """The values in config.json; None when the run has none yet."""
        if not os.path.exists(self.config_file):
            return None
        try:
            with open(self.config_file) as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"cannot read {self.config_file} ({e}); move it away to start "
                                  "anew") from None

    def write_config(self, config: Config) -> None:
        write_text(self.config_file, config.to_json() + "\n")

    def check_resumable(self, config: Config) -> None:
        """Refuses to resume a run whose recorded config differs in a field that shapes the model."""
        saved = self.recorded()
        if saved is None:
            return
        current = config.to_dict()
        for field in sorted(current):
            if field not in RESUME_SAFE_FIELDS and saved.get(field) != current[field]:
                raise CheckpointError(
                    f"--{field}={current[field]!r} differs from {saved.get(field)!r} recorded in "
                    f"{self.config_file}; use a new --workdir or the same value to resume")

    def require_run(self, flag: str = "--workdir") -> dict:
        """config.json's values, or a CheckpointError saying this is not a trained run."""
        if not os.path.isdir(self.path):
            raise CheckpointError(f"{flag}={self.path} does not exist")
        values = self.recorded()
        if values is None:
            raise CheckpointError(f"{self.path} holds no trained run ({self.config_file} not "
                                  "found); train one there first with --mode=train")
        return values

    def config(self) -> Config:
        """The run's recorded Config."""
        return Config.from_dict(self.require_run())

    def offline_config(self, flags_config: Config, explicit: Iterable[str] = ()) -> Config:
        """The recorded config, with OFFLINE_FIELDS from `flags_config` and the OVERRIDABLE_FIELDS
        named in `explicit` (the flags the user actually gave); other flags are ignored, loudly."""
        values = self.require_run()
        explicit = set(explicit)
        # Offline fields replace the recorded ones before validation: a weights file given to an
        # earlier command may be gone now without making the run unreadable.
        values.update({f: getattr(flags_config, f) for f in OFFLINE_FIELDS})
        values.update({f: getattr(flags_config, f) for f in OVERRIDABLE_FIELDS if f in explicit})
        ignored = sorted(f for f in explicit - set(OFFLINE_FIELDS) - set(OVERRIDABLE_FIELDS)
                         if f in values and getattr(flags_config, f) != values[f])
        if ignored:
            logging.warning("Using %s for %s, not the flags given", self.config_file,
                            ", ".join(ignored))
        return Config.from_dict(values)

    # --- checkpoints ---

    def newest_checkpoint(self) -> str | None:
        return tf.train.latest_checkpoint(self.checkpoints)

    def checkpoint(self, checkpoint: str = "") -> str:
        """The checkpoint prefix to read: `checkpoint` (a prefix such as
        WORKDIR/checkpoints/ckpt-400, or a folder: its newest), else this run's newest. One that
        does not exist is a CheckpointError naming it, never a silent fallback."""
        if not checkpoint:
            path = self.newest_checkpoint()
            if not path:
                raise CheckpointError(f"no checkpoint in {self.checkpoints}: train first "
                                      f"(--mode=train --workdir={self.path}) or pass --checkpoint")
            return path
        if os.path.isdir(checkpoint):
            path = tf.train.latest_checkpoint(checkpoint)
            if not path:
                raise CheckpointError(f"--checkpoint={checkpoint}: no checkpoint in this folder")
            return path
        if not os.path.exists(checkpoint + ".index"):
            raise CheckpointError(f"--checkpoint={checkpoint}: no such checkpoint (expected "
                                  f"{checkpoint}.index, e.g. {self.checkpoints}/ckpt-1000)")
        return checkpoint

    def restore(self, config: Config | None = None, checkpoint: str | None = None) -> VAEGAN:
        """The model of `config` (default: the recorded one) with the networks and step of
        `checkpoint` (default: config.checkpoint, else this run's newest), for inference."""
        config = config or self.config()
        path = self.checkpoint(config.checkpoint if checkpoint is None else checkpoint)
        model = VAEGAN(config)
        step = restore_networks(model, path)
        logging.info("Restored %s at step %d", path, step)
        return model
