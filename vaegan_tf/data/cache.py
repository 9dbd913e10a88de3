"""Caches of the preprocessed uint8 crops, read by example index, so training can start at any step.

--cache=memory decodes a split once into arrays in RAM; --cache=file writes the arrays once under
--cache_dir and maps them into memory in every later pass and run; --cache=auto picks memory when
a split fits in CACHE_BYTES, else file when --cache_dir is set, else none. Either way any
example is read directly by its index, which the training stream (stream.py) needs to start at a
resumed step without reading what came before it.

A file cache is a folder named by what it holds (source files, split, crop, size), filled in a
temporary folder and renamed into place only when complete, with a manifest written last: an
interrupted build leaves nothing that a later run would mistake for a cache. It holds two raw
little-endian arrays, crops.u8 (uint8 [N, S, S, 3]) and attributes.f4 (float32 [N, A], since
LFW's attributes are real-valued scores), which np.memmap reads without parsing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from vaegan_tf.config import Config
from vaegan_tf.data import corrupt as corrupt_lib
from vaegan_tf.data.corrupt import CorruptImages
from vaegan_tf.data.index import ImageIndex
from vaegan_tf.errors import DataError
from vaegan_tf.files import atomic_path, write_json

VERSION = 3  # bump when the preprocessing or array format changes: old caches then stop matching
MANIFEST, CROPS, ATTRIBUTES = "manifest.json", "crops.u8", "attributes.f4"
# --cache=auto keeps a split's uint8 crops in memory when they fit in this many bytes: at 64x64
# that is ~87k images (the demo, or CelebA's validation and test splits, but not its training set).
CACHE_BYTES = 1 << 30
# A split's first pass shows a progress bar (Keras's Progbar) from this many images on.
PROGRESS_FROM = 2000


class _Progress:
    """Counts the images of a first decoding pass, drawn as Keras's progress bar on a large split."""

    def __init__(self, expected: int | None, what: str):
        self.count = 0
        self.bar = None
        if expected is not None and expected >= PROGRESS_FROM:
            logging.info("Decoding %d images of %s (once: later passes read the cache)",
                         expected, what)
            self.bar = keras.utils.Progbar(expected, unit_name="image")

    def step(self) -> None:
        self.count += 1
        if self.bar is not None and self.count % 256 == 0:
            self.bar.update(self.count)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(self.count, finalize=True)


def choose(config: Config, images: int | None) -> str:
    """The cache --cache resolves to for a split of `images` examples: memory, file or none."""
    if config.cache != "auto":
        return config.cache
    if images is not None and images * config.image_size ** 2 * 3 <= CACHE_BYTES:
        return "memory"
    return "file" if config.cache_dir else "none"


def _fingerprint(config: Config, index, split: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([VERSION, config.crop, config.image_size, split]).encode())
    if isinstance(index, ImageIndex):
        for name in index.filenames:
            digest.update(name.encode() + b"\0")
        digest.update(np.ascontiguousarray(index.attributes).tobytes())
        digest.update(np.ascontiguousarray(index.partition).tobytes())
        if index.sizes is not None:  # a folder's picture replaced under the same name
            digest.update(np.ascontiguousarray(index.sizes).tobytes())
    else:
        digest.update(index.builder.info.full_name.encode())
        digest.update(os.path.abspath(index.builder.data_dir).encode())
    return digest.hexdigest()[:16]


def folder(config: Config, index, split: str) -> str:
    name = f"{config.dataset}-{split}-{config.crop}-{config.image_size}-"
    return os.path.join(config.cache_dir, name + _fingerprint(config, index, split))


def build(path: str, examples: tf.data.Dataset, attributes: int,
          skipped: Callable[[], list[str]] = list, expected: int | None = None) -> dict:
    """Writes one pass of (uint8 crop, attributes) as the arrays of a cache at `path`, atomically
    (`expected`: about how many, for the progress bar)."""
    start, progress = time.perf_counter(), _Progress(expected, path)
    with atomic_path(path) as tmp:
        os.makedirs(tmp)
        with corrupt_lib.raise_data_errors(), open(os.path.join(tmp, CROPS), "wb") as crops, \
                open(os.path.join(tmp, ATTRIBUTES), "wb") as attrs_file:
            for image, attrs in examples.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
                crops.write(image.tobytes())
                attrs_file.write(attrs.astype("<f4").tobytes())
                progress.step()
        progress.done()
        count = progress.count
        manifest = {"images": count, "attributes": attributes,
                    "image_shape": list(examples.element_spec[0].shape), "version": VERSION,
                    "skipped_corrupt": skipped()}
        write_json(os.path.join(tmp, MANIFEST), manifest)
    logging.info("Cached %d preprocessed images in %s (%.1f s)", count, path,
                 time.perf_counter() - start)
    return manifest


def check_writable(cache_dir: str) -> None:
    """Raises a DataError naming `cache_dir` unless a file can be created in it (made if missing).

    Called before a build: decoding a split takes minutes to hours, and only its end would
    otherwise find that the folder cannot take the result.
    """
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".writable-"):
            pass
    except OSError as e:
        raise DataError(f"--cache_dir={cache_dir} is not writable ({e.strerror or e}); point "
                        "--cache_dir at a writable folder, or use --cache=memory or "
                        "--cache=none") from None


def _read_manifest(path: str) -> dict | None:
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def file_arrays(config: Config, index, split: str, corrupt: CorruptImages | None,
                decoded: Callable[[CorruptImages], tf.data.Dataset], expected: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 [N, S, S, 3], attributes float32 [N, A]) of a split, memory-mapped from its
    file cache, which is built first (one pass of `decoded`) if needed."""
    if not config.cache_dir:
        raise DataError("--cache=file needs --cache_dir, the folder for the cached crops")
    path = folder(config, index, split)
    manifest = _read_manifest(path)
    if manifest is None:
        check_writable(config.cache_dir)
        logging.info("Building the %s cache in %s (one pass of decoding)", split, path)
        found = CorruptImages(log_each=corrupt.log_each if corrupt is not None else True)
        manifest = build(path, decoded(found), len(index.attribute_names), found.names, expected)
    if corrupt is not None:
        # Images skipped when the cache was built stay skipped: report them in every run.
        for name in manifest.get("skipped_corrupt", []):
            corrupt.record(name)
    n = manifest["images"]
    if n == 0:
        raise DataError(f"the {split} split of {config.data_dir} has no readable images")
    crops = np.memmap(os.path.join(path, CROPS), np.uint8, "r",
                      shape=(n, *manifest["image_shape"]))
    # mmap cannot map the empty file of a folder without attributes.
    attributes = (np.memmap(os.path.join(path, ATTRIBUTES), "<f4", "r",
                            shape=(n, manifest["attributes"])) if manifest["attributes"]
                  else np.zeros((n, 0), np.float32))
    return crops, attributes


def memory_arrays(examples: tf.data.Dataset, expected: int | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One pass of (uint8 crop, attributes) decoded into arrays in RAM (`expected`: an upper
    bound on the count, to fill preallocated arrays; None to collect and stack)."""
    image_spec, attr_spec = examples.element_spec
    with corrupt_lib.raise_data_errors():
        if expected is None:
            pairs = list(examples.prefetch(tf.data.AUTOTUNE).as_numpy_iterator())
            return (np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, *image_spec.shape), np.uint8),
                    np.stack([p[1] for p in pairs]).astype(np.float32) if pairs
                    else np.zeros((0, *attr_spec.shape), np.float32))
        crops = np.empty((expected, *image_spec.shape), np.uint8)
        attributes = np.empty((expected, *attr_spec.shape), np.float32)
        progress = _Progress(expected, "a split into memory")
        for image, attrs in examples.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
            crops[progress.count], attributes[progress.count] = image, attrs
            progress.step()
        progress.done()
    return crops[:progress.count], attributes[:progress.count]


def gather(crops: np.ndarray, attributes: np.ndarray, indices: tf.Tensor
           ) -> tuple[tf.Tensor, tf.Tensor]:
    """The examples at `indices` [k] of in-memory or memory-mapped arrays, inside tf.data."""
    def take(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(crops[idx]), np.asarray(attributes[idx], np.float32)
    images, attrs = tf.numpy_function(take, [indices], (tf.uint8, tf.float32), stateful=False)
    images.set_shape([None, *crops.shape[1:]])
    attrs.set_shape([None, attributes.shape[1]])
    return images, attrs


def in_order(crops: np.ndarray, attributes: np.ndarray,
             input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """(uint8 crop, attributes) of the arrays in index order, one pass (this worker's share)."""
    ds = tf.data.Dataset.range(len(crops))
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return unbatch(ds.batch(256).map(lambda idx: gather(crops, attributes, idx)))


def unbatch(batches: tf.data.Dataset) -> tf.data.Dataset:
    """`batches.unbatch()` for elements (images, attributes, ...), also when there are no
    attributes (a folder without --attributes_csv): TensorFlow 2.21's unbatch crashes the process
    (segfault) on a [k, 0] component, so those are dropped before it and re-made after."""
    if batches.element_spec[1].shape[-1] != 0:
        return batches.unbatch()
    return (batches.map(lambda images, attrs, *rest: (images, *rest)).unbatch()
            .map(lambda images, *rest: (images, tf.zeros([0], tf.float32), *rest)))
