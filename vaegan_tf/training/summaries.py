"""What a run shows while it trains: TensorBoard scalars and image grids, sample PNGs, and
images/s (the hyperparameters: tensorboard_logs.write_hparams)."""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from vaegan_tf import tensorboard_logs
from vaegan_tf.images import image_grid, side_by_side, write_png
from vaegan_tf.training.step_clock import StepCallback
from vaegan_tf.workdir import Workdir

SAMPLE_GRID = 64  # samples from a fixed z per grid (8x8)
RECON_GRID = 32  # validation images per reconstruction grid (beside their reconstructions)


def grid_inputs(config, validation: tf.data.Dataset) -> tuple:
    """What every image grid of a run shows, fixed at its start: (sample z, validation images,
    sample y, their y). The images are None for a GAN (no Enc); the y are None unless the run is
    conditional, when the sample grid takes validation vectors, cycled to fill it."""
    sample_z = np.random.default_rng(config.seed).standard_normal(
        (SAMPLE_GRID, config.latent_dim)).astype(np.float32)
    images = None
    if config.uses_encoder:
        batches = validation.take(-(-RECON_GRID // config.batch_size))
        images = np.concatenate([np.asarray(x) for x, _ in batches])[:RECON_GRID]
    if not config.conditional:
        return sample_z, images, None, None
    ys = np.concatenate([np.asarray(y) for _, y in validation.take(-(-SAMPLE_GRID // config.batch_size))])
    return (sample_z, images, np.resize(ys, (SAMPLE_GRID, ys.shape[1])).astype(np.float32),
            ys[:RECON_GRID])


def learning_rate(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


class Throughput(StepCallback):
    """Adds `img/s` (images per second since the log interval began) to the logs the progress bar shows."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = batch_size
        self.start, self.first = time.perf_counter(), 0
        self.rate = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.first = time.perf_counter(), self.step

    def on_train_batch_end(self, batch, logs=None):
        done = self.step - self.first
        self.rate = done * self.batch_size / max(time.perf_counter() - self.start, 1e-9)
        if logs is not None:
            logs["img/s"] = self.rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # the one-line-per-interval progress bar (--verbose=2) reads these
            logs["img/s"] = self.rate


class TensorBoardLogger(StepCallback):
    """Writes every logged quantity at the global step, and image grids every `image_every` steps.

    Training and validation values share tags and go to `train/` and `validation/` writers, so
    TensorBoard draws them on one chart. Grids come from a fixed z and fixed validation images, so
    successive grids show the same faces changing.
    """

    def __init__(self, run: Workdir, image_every: int, sample_z: np.ndarray | None,
                 val_images: np.ndarray | None, throughput: Throughput | None = None,
                 sample_attributes: np.ndarray | None = None,
                 val_attributes: np.ndarray | None = None):
        super().__init__()
        self.image_every = image_every
        self.sample_z, self.val_images, self.throughput = sample_z, val_images, throughput
        # Conditional runs (Sec 4.2): the y each grid is drawn with; None for unconditional ones.
        self.sample_attributes, self.val_attributes = sample_attributes, val_attributes
        self.samples_dir = run.samples
        os.makedirs(self.samples_dir, exist_ok=True)
        self.writers = {s: tensorboard_logs.summary_writer(run, s) for s in ("train", "validation")}

    def write_scalars(self, split: str, values: dict) -> None:
        with self.writers[split].as_default(step=self.step):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))
        self.writers[split].flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_") and k != "img/s"}
        train.update({f"learning_rate/{n}": learning_rate(o) for n, o in self.model.optimizers.items()})
        if self.throughput is not None:
            train["images_per_second"] = self.throughput.rate
        self.write_scalars("train", train)
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if val:
            self.write_scalars("validation", val)
        if self.step % self.image_every == 0:
            self.write_images()
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        if self.step % self.image_every:
            self.write_images()  # the final state is always pictured
        for writer in self.writers.values():
            writer.flush()

    def write_images(self):
        grids = {}
        if self.sample_z is not None:
            samples = self.model.decoder(self.sample_z, attributes=self.sample_attributes,
                                         training=False)
            grids["samples"] = image_grid(np.asarray(samples), cols=8)
        if self.val_images is not None and self.model.encoder is not None:
            recon = self.model(self.val_images, attributes=self.val_attributes, training=False)
            grids["reconstructions"] = image_grid(side_by_side(self.val_images, np.asarray(recon)), cols=8)
        paths = []
        with self.writers["train"].as_default(step=self.step):
            for name, grid in grids.items():
                tf.summary.image(name, grid[None], max_outputs=1)
                paths.append(os.path.join(self.samples_dir, f"{name}_{self.step:07d}.png"))
                write_png(paths[-1], grid)
        logging.info("Wrote %s", ", ".join(paths))
