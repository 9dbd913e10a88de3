"""train_and_evaluate(config, workdir): the whole training run, resumable from its workdir."""

from __future__ import annotations

import json
import math
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from export.saved_model import ExportCallback
from vaegan_tf import checkpointing, corrupt, data, faults, summaries
from vaegan_tf.config import RESUME_SAFE_FIELDS, Config
from vaegan_tf.errors import CheckpointError
from vaegan_tf.model import VAEGAN

SAMPLE_GRID = 64  # samples from a fixed z per grid (8x8)
RECON_GRID = 32  # validation images per reconstruction grid (beside their reconstructions)


def resolve_config(config: Config, workdir: str) -> Config:
    """Fills defaults that depend on the workdir (the synthetic data goes under it)."""
    if not config.data_dir and config.dataset == "synthetic":
        config = config.replace(data_dir=os.path.join(workdir, "data"))
    if not config.cache_dir and config.cache in ("auto", "file"):
        # Splits too big for memory are cached as TFRecords beside the run (data.make_dataset).
        config = config.replace(cache_dir=os.path.join(workdir, "cache"))
    return config


def check_resumable(config: Config, workdir: str) -> None:
    """Refuses to resume a workdir whose recorded config differs in a field that shapes the model."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        try:
            saved = json.load(f)
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{path} is not valid JSON ({e}); move it away to start anew") from None
    current = config.to_dict()
    for field in sorted(current):
        if field not in RESUME_SAFE_FIELDS and saved.get(field) != current[field]:
            raise CheckpointError(
                f"--{field}={current[field]!r} differs from {saved.get(field)!r} recorded in {path}; "
                "use a new --workdir or the same value to resume")


def write_config(config: Config, workdir: str) -> None:
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    with open(path + ".tmp", "w") as f:
        f.write(config.to_json() + "\n")
    os.replace(path + ".tmp", path)


def _fixed_inputs(config: Config, val_ds) -> tuple[np.ndarray, np.ndarray | None]:
    sample_z = np.random.default_rng(config.seed).standard_normal(
        (SAMPLE_GRID, config.latent_dim)).astype(np.float32)
    if not config.uses_encoder:
        return sample_z, None
    images = np.concatenate([np.asarray(x) for x, _ in val_ds.take(-(-RECON_GRID // config.batch_size))])
    return sample_z, images[:RECON_GRID]


@corrupt.raise_data_errors()  # a corrupt image met by tf.data ends as a DataError naming it
def train_and_evaluate(config: Config, workdir: str, verbose: int = 1) -> dict[str, float]:
    """Trains `config.model` to `config.train_steps` total steps in `workdir`, resuming if it can.

    Returns the last epoch's logs (training and validation metrics).
    """
    config = resolve_config(config, workdir)
    check_resumable(config, workdir)
    index = data.load_index(config)  # before writing anything: missing data leaves no trace
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    skipped = data.CorruptImages()  # filled only with --skip_corrupt
    # Also before writing: building a file cache may stop at a corrupt image.
    train_ds = data.make_dataset(config, "train", training=True, index=index, corrupt=skipped)
    validation = data.make_dataset(config, "validation", training=False, index=index,
                                   corrupt=skipped)
    write_config(config, workdir)
    val_ds = validation.take(config.eval_batches)

    model = VAEGAN(config)
    model.compile()
    manager = checkpointing.make_manager(model, workdir, config)
    start = checkpointing.restore_latest(manager)
    if start == 0 and config.model == "vae_disl":
        path = checkpointing.load_discriminator(model.discriminator, config.disl_from)
        logging.info("Frozen Dis_l loaded from %s", path)
    if start >= config.train_steps:
        logging.info("Already at step %d >= --train_steps=%d; nothing to train", start, config.train_steps)
        return {}

    throughput = summaries.Throughput(config.batch_size)
    sample_z, val_images = _fixed_inputs(config, validation)
    tensorboard = summaries.TensorBoardLogger(workdir, config.image_every, sample_z, val_images,
                                              throughput)
    callbacks = [
        throughput,
        # Before the logger, which writes its value; only runs that may skip images chart it.
        *([corrupt.SkippedImagesCallback(skipped)] if config.skip_corrupt else []),
        tensorboard,
        # Last, so the final checkpoint is written after the final summaries.
        checkpointing.CheckpointCallback(manager, config.checkpoint_every, config.train_steps),
        ExportCallback(workdir, config.export_every),  # SavedModels for TF Serving
    ]
    guard = faults.DivergenceGuard(manager, config.divergence_patience, config.lr_backoff,
                                   config.max_recoveries)
    stop = faults.SignalStop()
    with stop.installed():
        # fit() ends early after a divergence rollback (the step went back) or a signal.
        while (start := int(model.step.numpy())) < config.train_steps and stop.signum is None:
            first_epoch = start // config.log_every
            # The training stream is a pure function of the seed: skipping the steps already
            # taken puts a resumed run on exactly the batches an uninterrupted one would see.
            model.fit(
                train_ds.skip(start),
                initial_epoch=first_epoch,
                epochs=first_epoch + math.ceil((config.train_steps - start) / config.log_every),
                steps_per_epoch=config.log_every,
                validation_data=val_ds,
                validation_freq=config.eval_every // config.log_every,
                callbacks=callbacks + [guard, stop],
                shuffle=False,
                verbose=verbose,
            )
            if guard.pending:
                guard.recover()
    if stop.signum is not None:
        raise faults.Interrupted(stop.signum, int(model.step.numpy()))
    # A validation pass at the final step, whatever --eval_every, so every run ends with one.
    final = model.evaluate(val_ds, return_dict=True, verbose=0)
    tensorboard.write_scalars("validation", final)
    logging.info("Final validation at step %d: %s", int(model.step.numpy()),
                 ", ".join(f"{k}={v:.4g}" for k, v in sorted(final.items())))
    return {k: float(v) for k, v in final.items()}

