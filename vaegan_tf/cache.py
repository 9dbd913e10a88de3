"""Caches of the preprocessed uint8 crops, so later epochs skip JPEG decoding and resizing.

--cache=memory keeps them in RAM (tf.data's cache); --cache=file writes TFRecord shards once under
--cache_dir and reads them in every later epoch and run; --cache=auto picks memory when a split
fits in data.CACHE_BYTES, else file when --cache_dir is set, else none.

A file cache is a folder named by what it holds (source files, split, crop, size), filled in a
temporary folder and renamed into place only when complete, with a manifest written last: an
interrupted build leaves nothing that a later run would mistake for a cache. Records are raw bytes
(S*S*3 pixels then a little-endian float32 per attribute, since LFW's attributes are real-valued
scores), which parse faster than tf.train.Example protos.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from absl import logging

from vaegan_tf import corrupt as corrupt_lib
from vaegan_tf.celeba import CelebAIndex
from vaegan_tf.config import Config
from vaegan_tf.corrupt import CorruptImages
from vaegan_tf.errors import DataError

VERSION = 2  # bump when the preprocessing or record format changes: old caches then stop matching
SHARD_IMAGES = 2048  # images per shard: enough shards to shuffle, few enough to open cheaply
MANIFEST = "manifest.json"


def choose(config: Config, images: int | None) -> str:
    """The cache --cache resolves to for a split of `images` examples: memory, file or none."""
    if config.cache != "auto":
        return config.cache
    if images is not None and images * config.image_size ** 2 * 3 <= _cache_bytes():
        return "memory"
    return "file" if config.cache_dir else "none"


def _cache_bytes() -> int:
    from vaegan_tf import data  # the threshold lives with the pipeline it tunes
    return data.CACHE_BYTES


def _fingerprint(config: Config, index, split: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([VERSION, config.crop, config.image_size, split]).encode())
    if isinstance(index, CelebAIndex):
        for name in index.filenames:
            digest.update(name.encode() + b"\0")
        digest.update(np.ascontiguousarray(index.attributes).tobytes())
        digest.update(np.ascontiguousarray(index.partition).tobytes())
    else:
        digest.update(index.builder.info.full_name.encode())
        digest.update(os.path.abspath(index.builder.data_dir).encode())
    return digest.hexdigest()[:16]


def folder(config: Config, index, split: str) -> str:
    name = f"{config.dataset}-{split}-{config.crop}-{config.image_size}-"
    return os.path.join(config.cache_dir, name + _fingerprint(config, index, split))


def build(path: str, examples: tf.data.Dataset, attributes: int,
          skipped: Callable[[], list[str]] = list) -> dict:
    """Writes one pass of (uint8 crop, attributes) into TFRecord shards at `path`, atomically."""
    tmp = f"{path}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    start, count, shards, writer = time.perf_counter(), 0, [], None
    try:
        with corrupt_lib.raise_data_errors():
            for image, attrs in examples.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
                if count % SHARD_IMAGES == 0:
                    if writer is not None:
                        writer.close()
                    shards.append(f"shard-{len(shards):05d}.tfrecord")
                    writer = tf.io.TFRecordWriter(os.path.join(tmp, shards[-1]))
                writer.write(image.tobytes() + attrs.astype("<f4").tobytes())
                count += 1
        if writer is not None:
            writer.close()
        manifest = {"images": count, "shards": shards, "attributes": attributes,
                    "image_shape": list(examples.element_spec[0].shape), "version": VERSION,
                    "skipped_corrupt": skipped()}
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f)
        os.replace(tmp, path)
    except BaseException:
        if writer is not None:
            writer.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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


def file_cached(config: Config, index, split: str, corrupt: CorruptImages | None,
                training: bool,
                input_context: tf.distribute.InputContext | None,
                decoded: Callable[[CorruptImages], tf.data.Dataset]) -> tf.data.Dataset:
    """(uint8 crop, float32 attributes) of a split from its file cache, building it if needed.

    Training reads the shards in a seeded order that changes every pass, interleaved, so the
    shuffle buffer after it mixes images from many shards.
    """
    if not config.cache_dir:
        raise DataError("--cache=file needs --cache_dir, the folder for the cached crops")
    path = folder(config, index, split)
    manifest = _read_manifest(path)
    if manifest is None:
        check_writable(config.cache_dir)
        logging.info("Building the %s cache in %s (one pass of decoding)", split, path)
        found = CorruptImages()
        manifest = build(path, decoded(found), len(index.attribute_names), found.names)
    if corrupt is not None:
        # Images skipped when the cache was built stay skipped: report them in every run.
        for name in manifest.get("skipped_corrupt", []):
            corrupt.record(name)
    if manifest["images"] == 0:
        raise DataError(f"the {split} split of {config.data_dir} has no readable images")
    size, channels = manifest["image_shape"][0], manifest["image_shape"][2]
    pixels, attributes = size * size * channels, manifest["attributes"]

    def parse(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raw = tf.io.decode_raw(tf.strings.substr(record, 0, pixels), tf.uint8)
        image = tf.reshape(raw, [size, size, channels])
        values = tf.io.decode_raw(tf.strings.substr(record, pixels, 4 * attributes), tf.float32,
                                  little_endian=True)
        return image, tf.reshape(values, [attributes])

    files = tf.data.Dataset.from_tensor_slices([os.path.join(path, s) for s in manifest["shards"]])
    shard_elements = False
    if input_context is not None:
        if len(manifest["shards"]) >= input_context.num_input_pipelines:
            files = files.shard(input_context.num_input_pipelines,
                                input_context.input_pipeline_id)
        else:
            shard_elements = True
    if training:
        files = files.shuffle(len(manifest["shards"]), seed=config.seed,
                              reshuffle_each_iteration=True)
    ds = files.interleave(tf.data.TFRecordDataset, cycle_length=4 if training else 1,
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shard_elements:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
