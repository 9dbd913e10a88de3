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
from vaegan_tf import cache as cache_lib
from vaegan_tf import checkpointing, corrupt, data, distribute, faults, progress, summaries
from vaegan_tf.config import RESUME_SAFE_FIELDS, Config
from vaegan_tf.errors import CheckpointError, ConfigError, DataError
from vaegan_tf.model import VAEGAN

SAMPLE_GRID = 64  # samples from a fixed z per grid (8x8)
RECON_GRID = 32  # validation images per reconstruction grid (beside their reconstructions)


def resolve_config(config: Config, workdir: str) -> Config:
    """Fills defaults that depend on the workdir (the synthetic data goes under it) and, with
    --conditional, the length of the attribute vector y from the dataset."""
    if not config.data_dir and config.dataset == "synthetic":
        config = config.replace(data_dir=os.path.join(workdir, "data"))
    if config.conditional:
        count = len(data.attribute_names(config))
        if config.num_attributes not in (0, count):
            raise ConfigError(f"--num_attributes={config.num_attributes}, but --dataset="
                              f"{config.dataset} has {count} attributes; leave it 0 to have it "
                              "filled from the dataset")
        config = config.replace(num_attributes=count)
    if not config.cache_dir and config.cache in ("auto", "file"):
        # Splits too big for memory are cached as arrays beside the run (data.make_dataset).
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


def _fixed_attributes(config: Config, val_ds) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Conditional runs: y for the sample grid (validation vectors, cycled to fill it) and for
    the reconstruction grid (those of its images); (None, None) otherwise."""
    if not config.conditional:
        return None, None
    batches = val_ds.take(-(-SAMPLE_GRID // config.batch_size))
    ys = np.concatenate([np.asarray(y) for _, y in batches])
    return np.resize(ys, (SAMPLE_GRID, ys.shape[1])).astype(np.float32), ys[:RECON_GRID]


def _validation_batches(config: Config, index, validation: tf.data.Dataset,
                        replicas: int) -> tf.data.Dataset:
    """The first --eval_batches validation batches, each split across the replicas.

    With several replicas only whole global batches are kept: a short last batch would leave a
    replica without examples, whose mean losses are NaN.
    """
    if replicas > 1:
        n = data.split_size(index, "validation")
        if n is not None and n < config.batch_size:
            raise DataError(f"the validation split of {config.data_dir} has {n} images, fewer "
                            f"than one global batch of --batch_size={config.batch_size} to split "
                            f"across {replicas} replicas")
        batches = validation.cardinality()
        validation = validation.filter(lambda images, _: tf.shape(images)[0] == config.batch_size)
        # Known before the filter: then so is how many whole batches pass it.
        if batches >= 0 and n is not None:
            validation = validation.apply(tf.data.experimental.assert_cardinality(
                min(int(batches), n // config.batch_size)))
    return distribute.shard_by_data(validation.take(config.eval_batches))


def _restore(model: VAEGAN, config: Config, workdir: str,
             out: str) -> tuple[tf.train.CheckpointManager, int]:
    """The manager this process saves with (in `out`) and the step restored from `workdir`."""
    manager = checkpointing.make_manager(model, out, config)
    if out == workdir:
        start = checkpointing.restore_latest(manager)
    else:
        # A non-chief resumes from the chief's checkpoints and keeps a copy of that one beside
        # its own, so a divergence rollback (faults.py) finds the same checkpoint on every worker.
        start = checkpointing.restore_latest(checkpointing.make_manager(model, workdir, config))
        if start:
            checkpointing.save(manager, model, start)
    return manager, start


@corrupt.raise_data_errors()  # a corrupt image met by tf.data ends as a DataError naming it
def train_and_evaluate(config: Config, workdir: str, verbose: int = 1) -> dict[str, float]:
    """Trains `config.model` to `config.train_steps` total steps in `workdir`, resuming if it can.

    Returns the last epoch's logs (training and validation metrics). Under
    --strategy=multi_worker every worker calls it with the same arguments; only the chief writes
    into `workdir`, the others into temporary folders (distribute.py).
    """
    # First of all: logical devices and collective ops can only be set before TensorFlow starts.
    distribution = distribute.make_distribution(config)
    with distribute.write_dir(workdir, distribution) as out:
        return _train(config, workdir, out, distribution, verbose)


def _train(config: Config, workdir: str, out: str, distribution: distribute.Distribution,
           verbose: int) -> dict[str, float]:
    """train_and_evaluate in the folder `out` this process writes to (`workdir` for the chief)."""
    config = resolve_config(config, out)  # a non-chief draws and caches data in its own folder
    check_resumable(config, workdir)
    if config.cache == "file":
        cache_lib.check_writable(config.cache_dir)  # before drawing or decoding anything
    distribute.per_replica_batch_size(config.batch_size, distribution)
    index = data.load_index(config)  # before writing anything: missing data leaves no trace
    logging.info("Training on %s", distribution.description)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    skipped = data.CorruptImages()  # filled only with --skip_corrupt
    # Also before writing: building a file cache may stop at a corrupt image.
    # Global batches: fit() splits each across the replicas (and workers, shard_by_data).
    train_batches = data.training_stream(config, config.train_split, index, skipped)
    validation = data.make_dataset(config, "validation", training=False, index=index,
                                   corrupt=skipped)
    val_ds = _validation_batches(config, index, validation, distribution.num_replicas)
    write_config(config, out)

    with distribution.strategy.scope():  # variables and optimizer slots mirrored on each replica
        model = VAEGAN(config)
        model.compile(steps_per_execution=config.steps_per_execution)
        manager, start = _restore(model, config, workdir, out)
    if distribution.multi_worker:
        distribute.check_same_step(distribution, start, workdir)
    if start == 0 and config.model == "vae_disl":
        path = checkpointing.load_discriminator(model.discriminator, config.disl_from)
        logging.info("Frozen Dis_l loaded from %s", path)
    if start >= config.train_steps:
        logging.info("Already at step %d >= --train_steps=%d; nothing to train", start, config.train_steps)
        return {}

    throughput = summaries.Throughput(config.batch_size)  # global images per second
    tensorboard = None  # summaries, sample grids and exports come from the chief only
    if distribution.is_chief:
        sample_z, val_images = _fixed_inputs(config, validation)
        sample_y, val_y = _fixed_attributes(config, validation)
        tensorboard = summaries.TensorBoardLogger(workdir, config.image_every, sample_z,
                                                  val_images, throughput, sample_y, val_y)
        summaries.write_hparams(workdir, config)
    checkpoints = checkpointing.CheckpointCallback(manager, config.checkpoint_every,
                                                   config.train_steps)
    callbacks = [
        throughput,
        progress.ProgressLine(config.train_steps, config.batch_size,
                              verbose if distribution.is_chief else 0),
        # Before the logger, which writes its value; only runs that may skip images chart it.
        *([corrupt.SkippedImagesCallback(skipped)] if config.skip_corrupt else []),
        *([tensorboard] if tensorboard else []),
        # Last, so the final checkpoint is written after the final summaries. Every worker saves
        # (a non-chief into `out`) at the same steps, in case saving needs a collective op.
        checkpoints,
        # SavedModels for TF Serving, of checkpointed states only: after `checkpoints`.
        *([ExportCallback(workdir, config.export_every, checkpoints)]
          if distribution.is_chief else []),
    ]
    guard = faults.DivergenceGuard(manager, config.divergence_patience, config.lr_backoff,
                                   config.max_recoveries)
    stop = faults.SignalStop()
    with stop.installed():
        # fit() ends early after a divergence rollback (the step went back) or a signal.
        while (start := int(model.step.numpy())) < config.train_steps and stop.signum is None:
            first_epoch = start // config.log_every
            # The training stream is a pure function of the seed and the step (stream.py): a
            # resumed run starts at once on exactly the batches an uninterrupted one would see
            # (global batches, so on any number of replicas).
            batches = train_batches(start)
            if config.steps_per_execution > 1:
                # The last call then runs only the steps left: none past --train_steps.
                batches = batches.take(config.train_steps - start)
            model.fit(
                distribute.shard_by_data(batches),
                initial_epoch=first_epoch,
                epochs=first_epoch + math.ceil((config.train_steps - start) / config.log_every),
                steps_per_epoch=config.log_every,
                validation_data=val_ds,
                validation_freq=config.eval_every // config.log_every,
                callbacks=[PerStep(callbacks + [guard, stop])],
                shuffle=False,
                verbose=0,  # progress.ProgressLine instead: the global step, a few losses
            )
            if guard.pending:
                guard.recover()
    if stop.signum is not None:
        raise faults.Interrupted(stop.signum, int(model.step.numpy()))
    # A validation pass at the final step, whatever --eval_every, so every run ends with one.
    final = model.evaluate(val_ds, return_dict=True, verbose=0)  # on every worker: collective
    if tensorboard is not None:
        tensorboard.write_scalars("validation", final)
    logging.info("Final validation at step %d: %s (all in TensorBoard)", int(model.step.numpy()),
                 progress.losses_text(final))
    return {k: float(v) for k, v in final.items()}



class PerStep(keras.callbacks.Callback):
    """Callbacks written for one on_train_batch_end per training step, under any
    --steps_per_execution: Keras calls that hook once per execution of several steps; this
    calls it once for each step the execution ran (how many: the model's step counter, read
    once per execution, since the last one may run fewer). Every other hook is passed on.

    Their host-side step counts (checkpoints, exports, TensorBoard's steps, the divergence
    guard's every-`patience`-steps look) stay exact; logs are those of the execution's last
    step, which is what a step-by-step fit reports at that step.
    """

    def __init__(self, callbacks: list[keras.callbacks.Callback]):
        super().__init__()
        self.callbacks, self.seen = callbacks, 0

    def set_model(self, model):
        super().set_model(model)
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for c in self.callbacks:
            c.set_params(params)

    def _each(self, hook: str, *args) -> None:
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def on_train_begin(self, logs=None):
        self.seen = int(self.model.step.numpy())
        self._each("on_train_begin", logs)

    def on_train_batch_end(self, batch, logs=None):
        executed = 1
        if self.model.steps_per_execution > 1:
            step = int(self.model.step.numpy())
            executed, self.seen = step - self.seen, step
        for _ in range(executed):
            self._each("on_train_batch_end", batch, logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each("on_train_batch_begin", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs=None):
        self._each("on_test_begin", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._each("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._each("on_test_batch_end", batch, logs)

    def on_test_end(self, logs=None):
        self._each("on_test_end", logs)
