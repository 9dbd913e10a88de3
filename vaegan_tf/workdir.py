"""A run's folder (--workdir): what lives where in it. Paths only: config.json is read and
checked in run_record.py, TensorBoard's files are written by tensorboard_logs.py, and a model is
restored from a checkpoint by evaluation/inference.py.

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
import os

import tensorflow as tf

from vaegan_tf.errors import CheckpointError


@dataclasses.dataclass(frozen=True)
class Workdir:
    path: str

    @classmethod
    def of(cls, run: str | Workdir) -> Workdir:
        """`run` itself, or the Workdir of a path: the modes' entry points take either."""
        return run if isinstance(run, Workdir) else cls(run)

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
