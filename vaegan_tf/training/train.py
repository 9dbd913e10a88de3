"""train_mode(config, workdir): the whole training run, resumable from its workdir."""

from __future__ import annotations

import json
from typing import Callable, Sequence

import keras
import tensorflow as tf
from absl import logging

from vaegan_tf import data, files, run_record, tensorboard_logs
from vaegan_tf.config import Config
from vaegan_tf.data import cache as cache_lib
from vaegan_tf.data import corrupt, folder
from vaegan_tf.errors import CheckpointError, ConfigError, DataError, WorkerLost
from vaegan_tf.files import read_json, write_text
from vaegan_tf.model.checkpoint import restore_discriminator
from vaegan_tf.model.vaegan import VAEGAN
from vaegan_tf.training import (checkpointing, cluster_faults, distribute, faults, progress,
                                summaries)
from vaegan_tf.training.step_clock import StepClock
from vaegan_tf.workdir import Workdir

def resolve_config(config: Config, run: str | Workdir) -> Config:
    """Fills the defaults that depend on the run: folders under its workdir
    (run_record.with_defaults) and, with --conditional, the length of the attribute vector y from
    the dataset."""
    config = run_record.with_defaults(config, Workdir.of(run))
    if config.conditional:
        names = data.attribute_names(config)
        if not names:
            data.require_attributes(data.load_index(config), "--conditional")
        count = len(names)
        if config.num_attributes not in (0, count):
            raise ConfigError(f"--num_attributes={config.num_attributes}, but --dataset="
                              f"{config.dataset} has {count} attributes; leave it 0 to have it "
                              "filled from the dataset")
        config = config.replace(num_attributes=count)
    return config


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
    validation = validation.take(config.eval_batches)
    if validation.cardinality() == tf.data.UNKNOWN_CARDINALITY:
        # --skip_corrupt filters, so the length is unknown and Keras would warn "Your input ran
        # out of data" at every validation: counted once (at most --eval_batches batches).
        count = int(validation.reduce(0, lambda count, _: count + 1))
        validation = validation.apply(tf.data.experimental.assert_cardinality(count))
    return distribute.shard_by_data(validation)


def _restore(model: VAEGAN, config: Config, workdir: Workdir,
             out: Workdir) -> tuple[tf.train.CheckpointManager, int]:
    """The manager this process saves with (in `out`) and the step restored from `workdir`.

    A non-chief resumes from the chief's checkpoints and saves nothing here: saving is a
    collective op under multi_worker, which the chief would not join (it does not save here).
    """
    manager = checkpointing.make_manager(model, out, config)
    reader = manager if out == workdir else checkpointing.make_manager(model, workdir, config)
    return manager, checkpointing.restore_latest(reader)


# Callbacks a caller adds to the chief's training (run.py: the SavedModel export). Each is made
# from the run's CheckpointCallback and placed after it, so it sees only checkpointed states.
ChiefCallback = Callable[[Workdir, checkpointing.CheckpointCallback], keras.callbacks.Callback]


@corrupt.raise_data_errors()  # a corrupt image met by tf.data ends as a DataError naming it
def train_mode(config: Config, workdir: str | Workdir, verbose: int = 1,
               chief_callbacks: Sequence[ChiefCallback] = ()) -> dict[str, float]:
    """Trains `config.model` to `config.train_steps` total steps in `workdir`, resuming if it can.

    Returns the final validation's metrics. Under
    --strategy=multi_worker every worker calls it with the same arguments; only the chief writes
    into `workdir`, the others into temporary folders (distribute.py). `chief_callbacks` are
    called as f(workdir, checkpoints) on the chief to make callbacks run after each checkpoint.
    """
    # First of all: logical devices and collective ops can only be set before TensorFlow starts.
    distribution = distribute.make_distribution(config)
    run = Workdir.of(workdir)
    try:
        with distribute.write_dir(run, distribution) as out:
            return _Run(config, run, out, distribution, verbose).train(chief_callbacks)
    except tf.errors.OpError as e:
        reason = cluster_faults.lost_worker(e) if distribution.multi_worker else None
        if reason is None:
            raise
        raise WorkerLost(reason, run.newest_checkpoint()) from None


def _disl_checkpoint(config: Config) -> str | None:
    """vae_disl's source of Dis_l, checked before anything is written."""
    if config.model != "vae_disl":
        return None
    source = Workdir(config.disl_from)
    path = source.newest_checkpoint()  # None for a missing folder too
    if not path:
        raise CheckpointError(f"--disl_from={source.path}: no checkpoint in {source.checkpoints}; "
                              "train a gan or vaegan there first")
    return path


def _folder_record(index: data.ImageIndex, workdir: Workdir) -> dict | None:
    """The folder's index to record for this run (None: already recorded and unchanged); a run
    with checkpoints never resumes on a changed folder (folder.check_unchanged)."""
    record = folder.index_record(index)
    if not workdir.newest_checkpoint():
        return record  # nothing trained yet: the folder as it is now is the run's
    recorded = read_json(workdir.folder_index)
    if not isinstance(recorded, dict) or "pictures" not in recorded:
        raise CheckpointError(f"{workdir.folder_index} is missing or unreadable, so the "
                              f"checkpoints of {workdir.path} cannot be matched to the pictures "
                              f"under {index.root}; restore the file or train in a new --workdir")
    folder.check_unchanged(recorded, index, workdir.folder_index)
    return None


def _log_intervals(config: Config, start: int) -> tuple[int, bool, dict]:
    """(steps, whether fit() validates, fit()'s arguments) for the next fit() from step `start`:
    log intervals (fit's "epochs") that end at multiples of --log_every, or at --train_steps.

    The callbacks log, validate (every --eval_every) and draw grids (every --image_every) at
    interval ends, so those happen at the same steps whether or not the run resumed. A run resumed
    between two multiples (from a checkpoint written at --train_steps, on a signal or by a
    divergence rollback) first runs the steps up to the next multiple in a fit() of its own; so
    does the last stretch when --train_steps is no multiple. That last one does not validate: its
    end is no multiple of --eval_every, and the run's end has its own validation.
    """
    first = start // config.log_every  # fit() numbers the intervals; validation_freq counts them
    left = config.train_steps - start
    steps = min(config.log_every - start % config.log_every, left)
    intervals = 1 if steps < config.log_every else left // config.log_every
    return steps * intervals, (start + steps) % config.log_every == 0, dict(
        initial_epoch=first, epochs=first + intervals, steps_per_epoch=steps,
        validation_freq=config.eval_every // config.log_every)


class _Run:
    """One process's training: in the folder `out` it writes to (`workdir` for the chief)."""

    def __init__(self, config: Config, workdir: Workdir, out: Workdir,
                 distribution: distribute.Distribution, verbose: int):
        self.workdir, self.out, self.distribution, self.verbose = workdir, out, distribution, verbose
        # A non-chief draws and caches data in its own folder.
        self.config = resolve_config(config, out)
        # In this order: a run that stops in the first two phases has written nothing.
        self._check_and_index()
        self._seed()
        self._open_data()
        self._record()

    def _check_and_index(self) -> None:
        """Refuses what cannot run (a changed resume, a bad batch split, an unwritable cache) and
        reads the dataset's index, before anything is written: missing data leaves no trace."""
        config, workdir = self.config, self.workdir
        run_record.check_resumable(workdir, config)
        self.disl_path = _disl_checkpoint(config)
        if config.cache == "file":
            cache_lib.check_writable(config.cache_dir)  # before drawing or decoding anything
        distribute.per_replica_batch_size(config.batch_size, self.distribution)
        self.index = data.load_index(config)
        self.folder_record = (_folder_record(self.index, workdir) if config.dataset == "folder"
                              else None)

    def _seed(self) -> None:
        """Seeds every generator, before the pipelines and the networks draw from them."""
        logging.info("Training on %s", self.distribution.description)
        keras.utils.set_random_seed(self.config.seed)
        if self.config.deterministic:
            tf.config.experimental.enable_op_determinism()

    def _open_data(self) -> None:
        """The training stream and the validation batches. Building a file cache may stop at a
        corrupt image, so this too comes before anything is written."""
        config, index = self.config, self.index
        # Filled only with --skip_corrupt. A folder's decoding pass ends in one summary line
        # (below) instead of a line per file.
        self.skipped = data.CorruptImages(log_each=config.dataset != "folder"
                                          or config.cache == "none")
        # Global batches: fit() splits each across the replicas (and workers, shard_by_data).
        self.train_batches = data.training_stream(config, config.train_split, index, self.skipped)
        self.validation = data.make_dataset(config, "validation", training=False, index=index,
                                            corrupt=self.skipped)
        self.val_ds = _validation_batches(config, index, self.validation,
                                          self.distribution.num_replicas)
        if config.dataset == "folder":
            summary = folder.skip_summary(index, self.skipped.names())
            if summary:
                logging.warning(summary)

    def _record(self) -> None:
        """The run's record: config.json and, for a folder, the index a resumption is checked
        against."""
        if self.out == self.workdir:  # the chief: what a killed run left half-written
            removed = [*checkpointing.remove_partial(self.workdir.checkpoints),
                       *(p for d in (self.workdir.path, self.workdir.samples, self.workdir.export)
                         for p in files.remove_stale_temporaries(d))]
            if removed:
                logging.info("Removed what a stopped run left half-written: %s",
                             ", ".join(removed))
        run_record.write(self.out, self.config)
        if self.folder_record is not None:
            # Compact: one entry per picture, for folders of 100k pictures and more.
            write_text(self.out.folder_index, json.dumps(self.folder_record) + "\n")

    def train(self, chief_callbacks: Sequence[ChiefCallback]) -> dict[str, float]:
        config, distribution = self.config, self.distribution
        with distribution.strategy.scope():  # variables and optimizer slots mirrored per replica
            model = VAEGAN(config)
            model.compile(steps_per_execution=config.steps_per_execution)
            manager, start = _restore(model, config, self.workdir, self.out)
        if distribution.multi_worker:
            distribute.check_same_step(distribution, start, self.workdir.path)
        if start == 0 and self.disl_path:
            restore_discriminator(model.discriminator, self.disl_path,
                                  f"--disl_from={config.disl_from}")
            logging.info("Frozen Dis_l loaded from %s", self.disl_path)
        if start >= config.train_steps:
            logging.info("Already at step %d >= --train_steps=%d; nothing to train", start,
                         config.train_steps)
            return {}
        callbacks, checkpoints, tensorboard = self._callbacks(manager, chief_callbacks)
        self._fit(model, checkpoints, callbacks)
        # A validation pass at the final step, whatever --eval_every, so every run ends with one.
        final = model.evaluate(self.val_ds, return_dict=True, verbose=0)  # every worker: collective
        if tensorboard is not None:
            tensorboard.write_scalars("validation", final)
        logging.info("Final validation at step %d: %s (all in TensorBoard)",
                     int(model.step.numpy()), progress.losses_text(final))
        return {k: float(v) for k, v in final.items()}

    def _callbacks(self, manager, chief_callbacks: Sequence[ChiefCallback]):
        config, chief = self.config, self.distribution.is_chief
        throughput = summaries.Throughput(config.batch_size)  # global images per second
        tensorboard = None  # summaries, sample grids and exports come from the chief only
        if chief:
            sample_z, val_images, sample_y, val_y = summaries.grid_inputs(config, self.validation)
            tensorboard = summaries.TensorBoardLogger(self.workdir, config.image_every, sample_z,
                                                      val_images, throughput, sample_y, val_y)
            tensorboard_logs.write_hparams(self.workdir, config)
        checkpoints = checkpointing.CheckpointCallback(manager, config.checkpoint_every,
                                                       config.train_steps)
        callbacks = [
            throughput,
            progress.ProgressLine(config.train_steps, config.batch_size,
                                  self.verbose if chief else 0),
            # Before the logger, which writes its value; only runs that may skip images chart it.
            *([corrupt.SkippedImagesCallback(self.skipped)] if config.skip_corrupt else []),
            *([tensorboard] if tensorboard else []),
            # Last, so the final checkpoint is written after the final summaries. Every worker
            # saves (a non-chief into `out`) at the same steps, in case saving needs a collective.
            checkpoints,
            # E.g. SavedModels for TF Serving, of checkpointed states only: after `checkpoints`.
            *([make(self.workdir, checkpoints) for make in chief_callbacks] if chief else []),
        ]
        return callbacks, checkpoints, tensorboard

    def _fit(self, model: VAEGAN, checkpoints: checkpointing.CheckpointCallback,
             callbacks: list) -> None:
        config, distribution = self.config, self.distribution
        guard = faults.DivergenceGuard(checkpoints.manager.checkpoint, self.workdir.checkpoints,
                                       config.divergence_patience, config.lr_backoff,
                                       config.max_recoveries)
        # A worker of a cluster that gets a signal stops with all the others (cluster_faults.py).
        stop = faults.SignalStop(stops_fit=not distribution.multi_worker)
        cluster = (cluster_faults.ClusterStop(distribution.strategy.cluster_resolver,
                                              stop.received, checkpoints.save_now)
                   if distribution.multi_worker else None)
        stopped = (lambda: cluster.stopped) if cluster else stop.received
        clock = StepClock(callbacks + [guard, stop, *([cluster] if cluster else [])],
                          ends_with_fit=False)
        try:
            with stop.installed():
                self._fit_loop(model, clock, guard, stopped)
                clock.end_training()  # the final checkpoint, export and grids
        finally:
            if cluster:
                cluster.close()
        if stopped() or stop.received():
            raise faults.Interrupted(stop.signum, int(model.step.numpy()), cluster is not None)

    def _fit_loop(self, model: VAEGAN, clock: StepClock, guard: faults.DivergenceGuard,
                  stopped: Callable[[], bool]) -> None:
        """fit() until --train_steps or a stop; fit() also ends early after a divergence rollback
        (the step went back)."""
        config = self.config
        while (start := int(model.step.numpy())) < config.train_steps and not stopped():
            # The training stream is a pure function of the seed and the step (stream.py): a
            # resumed run starts at once on exactly the batches an uninterrupted one would see
            # (global batches, so on any number of replicas).
            batches = self.train_batches(start)
            steps, validates, intervals = _log_intervals(config, start)
            if config.steps_per_execution > 1:
                # A call then runs only the steps planned: none past --train_steps or the next
                # multiple of --log_every.
                batches = batches.take(steps)
            model.fit(
                distribute.shard_by_data(batches),
                validation_data=self.val_ds if validates else None,
                callbacks=[clock],
                shuffle=False,
                verbose=0,  # progress.ProgressLine instead: the global step, a few losses
                **intervals,
            )
            if guard.pending:
                guard.recover()
