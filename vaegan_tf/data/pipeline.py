"""The tf.data pipeline that feeds training and evaluation, for every source.

Each source becomes an index (`load_index`, sources.py): an ImageIndex of image files for
`celeba` (official layout or CSV repackaging, celeba.py), `synthetic` (drawn in the official
layout), `lfw` (LFW with real-valued attribute scores, lfw.py) and `folder` (any pictures,
folder.py), a TFDSIndex for `tfds` (tfds_source.py).
`make_dataset` turns (encoded image, name, attributes) into batches:

    read + decode + crop_uint8  (decode.py; parallel, deterministic; a corrupt file: ok=False)
    -> stop naming the file, or skip and count it (--skip_corrupt)          corrupt.py
    -> cache of the uint8 crops as arrays: memory or files (--cache)        cache.py
    -> training: example positions -> shuffled example indices, each pass   stream.py
       (read from the arrays, or the files without a cache)
    -> random flip and optional --augment, seeded by position               preprocess.py
    -> scale to [-1, 1], batch (full batches for training), prefetch
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from vaegan_tf.config import Config
from vaegan_tf.data import cache as cache_lib
from vaegan_tf.data import corrupt as corrupt_lib
from vaegan_tf.data import stream, tfds_source
from vaegan_tf.data.corrupt import CorruptImages
from vaegan_tf.data.decode import decode_picture
from vaegan_tf.data.index import ImageIndex
from vaegan_tf.data.preprocess import augment, crop_uint8, flip, to_unit_range
from vaegan_tf.data.sources import SPLITS, Index, load_index, split_size
from vaegan_tf.data.tfds_source import TFDSIndex
from vaegan_tf.errors import DataError

# One-element datasets are cheap, but each costs a few hundred microseconds: keep enough of them
# in flight to cover that latency with both cores busy.
DECODE_CYCLE = 16


def _examples(config: Config, index: Index, split: str, training: bool,
              input_context: tf.distribute.InputContext | None) -> tf.data.Dataset:
    """(file path or encoded bytes, name, attributes) of a split, one pass, in file order
    (training, TFDS only: in TFDS's seeded per-pass order; files are shuffled by stream.py)."""
    if isinstance(index, TFDSIndex):
        return tfds_source.examples(index, split, training, config.seed, input_context)
    part = index.subset(np.isin(index.partition, SPLITS[split]))
    names = np.array(part.filenames)
    ds = tf.data.Dataset.from_tensor_slices((names, names, part.attributes))
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return ds


def read_crop(crop: str, image_size: int, from_files: bool):
    """(source, name, attributes) -> a one-element dataset of (uint8 crop, attributes, ok, name).

    Decoding runs inside a one-element dataset with ignore_errors() followed by a fallback
    element, so a failure anywhere in reading or decoding yields ok=False with the file's name
    instead of an anonymous error that ends the whole pipeline.
    """
    blank = tf.zeros([image_size, image_size, 3], tf.uint8)

    def decode(source: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        contents = tf.io.read_file(source) if from_files else source
        return crop_uint8(decode_picture(contents), crop, image_size), tf.constant(True)

    def one(source: tf.Tensor, name: tf.Tensor, attributes: tf.Tensor) -> tf.data.Dataset:
        good = tf.data.Dataset.from_tensors(source).map(decode).ignore_errors()
        bad = tf.data.Dataset.from_tensors((blank, tf.constant(False)))
        return good.concatenate(bad).take(1).map(lambda image, ok: (image, attributes, ok, name))
    return one


def decoded(config: Config, index: Index, split: str, training: bool,
            corrupt: CorruptImages | None = None,
            input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """(uint8 crop [S, S, 3], float32 attributes) of a split, one pass, corrupt files handled."""
    ds = _examples(config, index, split, training, input_context)
    ds = ds.interleave(read_crop(config.crop, config.image_size, isinstance(index, ImageIndex)),
                       cycle_length=DECODE_CYCLE, block_length=1,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if config.skip_corrupt:
        corrupt = corrupt if corrupt is not None else CorruptImages()
        ds = ds.filter(corrupt.keep)
        return ds.map(lambda image, attributes, ok, name: (image, attributes))
    return ds.map(corrupt_lib.assert_ok)


def finish(image: tf.Tensor, attributes: tf.Tensor, seed: tf.Tensor,
            config: Config) -> tuple[tf.Tensor, tf.Tensor]:
    pixels = augment(image, seed) if config.augment else image
    # Flip after the warp, on a seed of its own: fold_in keeps the two draws independent.
    pixels = flip(pixels, tf.random.experimental.stateless_fold_in(seed, 1))
    return to_unit_range(pixels), attributes


def checked_split(config: Config, split: str, index: Index | None,
             input_context: tf.distribute.InputContext | None) -> tuple[Index, int | None, int]:
    """(index, examples in the split or None, batch size of this pipeline), or a clear error."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    index = index if index is not None else load_index(config)
    n = split_size(index, split)
    if n == 0:
        hint = ""
        if config.dataset == "folder" and split in ("validation", "test"):
            hint = (f" (--{'val' if split == 'validation' else 'test'}_fraction of "
                    f"{index.root}'s {len(index)} pictures): raise it, or add pictures")
        raise DataError(f"the {split} split of {config.data_dir} has no images{hint}")
    batch_size = config.batch_size
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    return index, n, batch_size


def require_batches(config: Config, split: str, n: int | None, batch_size: int) -> None:
    if n is not None and n < batch_size:
        raise DataError(f"the {split} split of {config.data_dir} has {n} images, fewer than one "
                        f"batch of --batch_size={batch_size}")


def cached_arrays(config: Config, index: Index, split: str, corrupt: CorruptImages | None,
            mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's uint8 crops and attributes as arrays: mapped from the file cache or decoded
    into memory."""
    if mode == "file":
        return cache_lib.file_arrays(config, index, split, corrupt,
                                     lambda found: decoded(config, index, split, False, found),
                                     split_size(index, split))
    crops, attributes = cache_lib.memory_arrays(decoded(config, index, split, False, corrupt),
                                                split_size(index, split))
    if not len(crops):
        raise DataError(f"the {split} split of {config.data_dir} has no readable images")
    return crops, attributes


def make_dataset(config: Config, split: str, training: bool, index: Index | None = None,
                 corrupt: CorruptImages | None = None,
                 input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Batches of (images float32 [B, S, S, 3] in [-1, 1], attributes float32 [B, A]) of a split.

    training=True: `training_stream(...)(0)`, the endless shuffled stream from its start.
    training=False: file order, one pass, last batch may be short, no randomness. Pass `index`
    (from load_index) to avoid reading the annotation files again, `corrupt` to collect the
    images --skip_corrupt skipped, and `input_context` (tf.distribute) to read only this worker's
    share, in batches of the per-replica size.
    """
    if training:
        return training_stream(config, split, index, corrupt, input_context)(0)
    index, n, batch_size = checked_split(config, split, index, input_context)
    mode = cache_lib.choose(config, n)
    if mode == "file":
        arrays = cached_arrays(config, index, split, corrupt, mode)
        ds, n = cache_lib.in_order(*arrays, input_context), len(arrays[0])
    else:
        ds = decoded(config, index, split, False, corrupt, input_context)
        if mode == "memory":
            ds = ds.cache()
        if config.skip_corrupt:
            n = None  # images may be skipped on the way
    ds = ds.map(lambda image, attributes: (to_unit_range(image), attributes))
    ds = ds.batch(batch_size)
    if n is not None and input_context is None:
        # Decoding loses tf.data's count of batches; Keras needs it to end a validation pass
        # without running the data out (its "input ran out of data" warning) and to start the
        # next pass afresh rather than where the last one stopped.
        ds = ds.apply(tf.data.experimental.assert_cardinality(-(-n // batch_size)))
    return ds.prefetch(tf.data.AUTOTUNE)


# Without a cache, --skip_corrupt replaces an unreadable image by the first readable one among the
# next few of its pass, so every position still yields an example and steps keep their batches.
STAND_INS = 8


def training_stream(config: Config, split: str, index: Index | None = None,
                    corrupt: CorruptImages | None = None,
                    input_context: tf.distribute.InputContext | None = None
                    ) -> Callable[[int], tf.data.Dataset]:
    """`batches(first_step)`: the training batches of a split from step `first_step` on.

    Shuffled in a new order each pass, randomly flipped (and augmented with config.augment), all
    a function of config.seed and the position in the stream (stream.py); endless, full batches
    only. Starting at step s costs the same as starting at 0: example positions map straight to
    example indices, read from the cache's arrays or from the image files. Only TFDS without a
    cache reads its records in sequence; there `batches(s)` skips s batches.
    """
    index, n, batch_size = checked_split(config, split, index, input_context)
    require_batches(config, split, n, batch_size)
    mode = cache_lib.choose(config, n)
    if mode == "none" and isinstance(index, TFDSIndex):
        return _sequential_stream(config, index, split, corrupt, input_context, batch_size)

    if mode != "none":
        crops, attributes = cached_arrays(config, index, split, corrupt, mode)
        require_batches(config, split, len(crops), batch_size)
        examples = _cached_examples(config, crops, attributes, batch_size)
    else:
        examples = _file_examples(config, index, split, n, corrupt)

    def batches(first_step: int) -> tf.data.Dataset:
        positions = stream.positions(first_step, config.batch_size)
        if input_context is not None:  # this pipeline's share of each global batch
            positions = positions.shard(input_context.num_input_pipelines,
                                        input_context.input_pipeline_id)
        ds = examples(positions).map(
            lambda image, attrs, p: finish(image, attrs, stream.augmentation_seed(p, config.seed),
                                            config),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return batches


def _cached_examples(config: Config, crops: np.ndarray, attributes: np.ndarray,
                     batch_size: int) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
    """positions -> (uint8 crop, attributes, position) read from a cache's arrays."""
    n = len(crops)

    def examples(positions: tf.data.Dataset) -> tf.data.Dataset:
        def at(p: tf.Tensor):
            images, attrs = cache_lib.gather(crops, attributes,
                                             stream.example_index(p, n, config.seed))
            return images, attrs, p
        return cache_lib.unbatch(positions.batch(batch_size).map(
            at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
    return examples


def _file_examples(config: Config, index: ImageIndex, split: str, n: int,
                   corrupt: CorruptImages | None) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
    """positions -> (uint8 crop, attributes, position) decoded from the image files."""
    part = index.subset(np.isin(index.partition, SPLITS[split]))
    names, attrs_of = tf.constant(np.array(part.filenames)), tf.constant(part.attributes)
    decode = read_crop(config.crop, config.image_size, from_files=True)
    tries = STAND_INS if config.skip_corrupt else 1

    def one(p: tf.Tensor) -> tf.data.Dataset:
        if tries == 1:
            k = stream.example_index(p, n, config.seed)
            read = decode(names[k], names[k], attrs_of[k])
        else:
            candidates = tf.data.Dataset.range(tries).map(
                lambda j: stream.example_index(p, n, config.seed, j))
            read = candidates.flat_map(lambda k: decode(names[k], names[k], attrs_of[k]))
            found = corrupt if corrupt is not None else CorruptImages()
            # The first readable candidate, else the last one, to fail naming its file.
            read = read.filter(found.keep).concatenate(read.skip(tries - 1)).take(1)
        return read.map(corrupt_lib.assert_ok).map(lambda image, a: (image, a, p))

    def examples(positions: tf.data.Dataset) -> tf.data.Dataset:
        return positions.interleave(one, cycle_length=DECODE_CYCLE, block_length=1,
                                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return examples


def _sequential_stream(config: Config, index: TFDSIndex, split: str,
                       corrupt: CorruptImages | None,
                       input_context: tf.distribute.InputContext | None,
                       batch_size: int) -> Callable[[int], tf.data.Dataset]:
    """TFDS records without a cache, read in sequence: TFDS's seeded file order each pass, then a
    --shuffle_buffer of examples."""
    ds = decoded(config, index, split, True, corrupt, input_context)
    ds = ds.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.repeat()
    seeds = tf.data.Dataset.counter(dtype=tf.int64).map(
        lambda p: stream.augmentation_seed(p, config.seed))
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda example, seed: finish(example[0], example[1], seed, config),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return lambda first_step: ds.skip(first_step)
