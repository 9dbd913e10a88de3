"""CelebA in its official layout, and the tf.data pipeline that feeds training and evaluation.

The official layout under a root folder:
    img_align_celeba/000001.jpg ...   aligned 178x218 RGB faces
    list_attr_celeba.txt              count line, attribute names line, `000001.jpg  1 -1 ...` rows
    list_eval_partition.txt           `000001.jpg 0` rows: 0 train, 1 validation, 2 test
Every source (the real files, the embedded synthetic data and, later, other packagings) is turned
into one `CelebAIndex`; `make_dataset` only ever sees an index, so a new source is one more reader.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import tensorflow as tf

from vaegan_tf.config import Config
from vaegan_tf.errors import DataError
from vaegan_tf.synthetic import ATTR_FILE, IMAGE_DIR, PARTITION_FILE, ensure_synthetic

SPLITS = {"train": (0,), "validation": (1,), "test": (2,), "train+val": (0, 1)}
# The authors' crop of the 218x178 aligned image (rows 40:188, columns 15:163).
ALIGNED_HEIGHT, ALIGNED_WIDTH = 218, 178
ORIGINAL_BOX = (40, 15, 148, 148)  # top, left, height, width
CENTER_SIDE = 108  # DCGAN's centre crop
# Preprocessed images are cached in memory when they fit in this many bytes: a 4000-image demo
# (or up to ~21k images at 64x64) then skips JPEG decoding and resizing after the first pass.
CACHE_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class CelebAIndex:
    """The images of a dataset with their attributes and split, in file order."""

    filenames: list[str]  # absolute paths
    attributes: np.ndarray  # float32 [N, A], 1 where the attribute is present, else 0
    attribute_names: tuple[str, ...]
    partition: np.ndarray  # int64 [N]: 0 train, 1 validation, 2 test

    def __len__(self) -> int:
        return len(self.filenames)

    def subset(self, mask: np.ndarray) -> "CelebAIndex":
        keep = np.flatnonzero(mask)
        return CelebAIndex([self.filenames[i] for i in keep], self.attributes[keep],
                           self.attribute_names, self.partition[keep])


def _read_lines(path: str, what: str) -> list[str]:
    if not os.path.isfile(path):
        raise DataError(f"{what} {path} not found")
    try:
        with open(path, "rb") as f:
            # splitlines() takes \n and \r\n alike, whatever tool last saved the file.
            return f.read().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {what} {path}: {e}") from None


def _parse_attributes(path: str) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    lines = _read_lines(path, "attribute file")
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and an attribute-names line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path}:1: expected the number of images, got {lines[0][:40]!r}") from None
    names = tuple(lines[1].split())
    if not names:
        raise DataError(f"{path}:2: expected the attribute names")
    filenames, values, line_numbers = [], [], []
    for number, line in enumerate(lines[2:], start=3):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != len(names) + 1:
            raise DataError(f"{path}:{number}: expected a file name and {len(names)} values, "
                            f"got {len(tokens)} fields")
        filenames.append(tokens[0])
        values.append(tokens[1:])
        line_numbers.append(number)
    table = np.array(values, dtype=str).reshape(len(values), len(names))
    positive, negative = table == "1", table == "-1"
    bad = ~(positive | negative)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        value = str(table[row, column])
        raise DataError(f"{path}:{line_numbers[row]}: {names[column]} is {value!r}; "
                        f"values must be -1 or 1")
    if count != len(filenames):
        raise DataError(f"{path}: the first line says {count} images but {len(filenames)} "
                        f"are listed")
    _check_unique(filenames, path)
    return filenames, positive.astype(np.float32), names


def _parse_partition(path: str) -> dict[str, int]:
    partition = {}
    for number, line in enumerate(_read_lines(path, "partition file"), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2 or tokens[1] not in ("0", "1", "2"):
            raise DataError(f"{path}:{number}: expected `<image> <0|1|2>`, got {line.strip()!r}")
        if tokens[0] in partition:
            raise DataError(f"{path}:{number}: {tokens[0]} is listed twice")
        partition[tokens[0]] = int(tokens[1])
    return partition


def _check_unique(filenames: list[str], path: str) -> None:
    if len(set(filenames)) != len(filenames):
        seen = set()
        duplicate = next(f for f in filenames if f in seen or seen.add(f))
        raise DataError(f"{path}: {duplicate} is listed twice")


def _check_same_images(filenames: list[str], partition: dict[str, int], attr_path: str,
                       partition_path: str) -> None:
    listed = set(filenames)
    only_partition = sorted(set(partition) - listed)
    only_attr = [f for f in filenames if f not in partition]
    for missing, here, there in ((only_partition, partition_path, attr_path),
                                 (only_attr, attr_path, partition_path)):
        if missing:
            raise DataError(f"{missing[0]} is listed in {here} but not in {there} "
                            f"({len(missing)} such image(s))")


def _check_images(image_dir: str, filenames: list[str]) -> None:
    # One directory scan instead of one stat() per listed image: CelebA has 202,599 of them.
    if not os.path.isdir(image_dir):
        raise DataError(f"image folder {image_dir} not found")
    sizes = {}
    with os.scandir(image_dir) as entries:
        for entry in entries:
            try:
                sizes[entry.name] = entry.stat().st_size
            except OSError:
                sizes[entry.name] = 0
    missing = [f for f in filenames if f not in sizes]
    if missing:
        raise DataError(f"{os.path.join(image_dir, missing[0])} not found "
                        f"({len(missing)} listed image(s) missing)")
    empty = [f for f in filenames if sizes[f] == 0]
    if empty:
        raise DataError(f"{os.path.join(image_dir, empty[0])} is empty "
                        f"({len(empty)} empty image(s))")


def read_celeba(root: str) -> CelebAIndex:
    """Reads a dataset in CelebA's official layout under `root`, checking it thoroughly."""
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise DataError(
            f"CelebA folder {root} not found: it should hold {IMAGE_DIR}/, {ATTR_FILE} and "
            f"{PARTITION_FILE} as distributed by CelebA (set --data_dir); "
            f"for the embedded demo data use --flagfile=demo.flags")
    attr_path = os.path.join(root, ATTR_FILE)
    partition_path = os.path.join(root, PARTITION_FILE)
    filenames, attributes, names = _parse_attributes(attr_path)
    partition = _parse_partition(partition_path)
    _check_same_images(filenames, partition, attr_path, partition_path)
    image_dir = os.path.join(root, IMAGE_DIR)
    _check_images(image_dir, filenames)
    return CelebAIndex(
        filenames=[os.path.join(image_dir, f) for f in filenames],
        attributes=attributes,
        attribute_names=names,
        partition=np.array([partition[f] for f in filenames], dtype=np.int64))


def load_index(config: Config) -> CelebAIndex:
    """The whole dataset named by config.dataset, drawing the synthetic one first if needed."""
    if config.dataset == "tfds":
        raise DataError("--dataset=tfds is not supported yet; use celeba or synthetic")
    if not config.data_dir:
        raise DataError(f"--data_dir is empty; --dataset={config.dataset} needs a folder")
    if config.dataset == "synthetic":
        ensure_synthetic(config.data_dir, config.synthetic_images, config.seed)
    return read_celeba(config.data_dir)


def attribute_names(config: Config) -> tuple[str, ...]:
    """The labels of the attribute vectors that `make_dataset(config, ...)` yields."""
    return load_index(config).attribute_names


def _gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Blurs [B, H, W, C] float images like scipy.ndimage.gaussian_filter(mode='reflect')."""
    radius = max(1, int(4.0 * sigma + 0.5))  # scipy's default truncation at 4 sigma
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    taps = tf.constant((taps / taps.sum()).astype(np.float32))
    channels = images.shape[-1]
    # SYMMETRIC repeats the edge pixel (d c b a | a b c d), which is scipy's 'reflect'.
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "SYMMETRIC")
    rows = tf.tile(tf.reshape(taps, [-1, 1, 1, 1]), [1, 1, channels, 1])
    columns = tf.tile(tf.reshape(taps, [1, -1, 1, 1]), [1, 1, channels, 1])
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(blurred, columns, [1, 1, 1, 1], "VALID")


def _scaled(size: tf.Tensor, value: int, reference: int) -> tf.Tensor:
    return tf.cast(tf.round(tf.cast(size, tf.float32) * (value / reference)), tf.int32)


def preprocess(image: tf.Tensor, crop: str, image_size: int) -> tf.Tensor:
    """Crops and resizes one uint8 [H, W, 3] face to float32 [image_size, image_size, 3] in [-1, 1].

    crop="original" is the authors' pipeline: rows 40:188, columns 15:163 of an aligned 218x178
    image (the box scales with other sizes; the blur does not), a Gaussian blur of sigma
    sqrt(148 / image_size) / 2 against aliasing when shrinking, then a bicubic resize. crop="center108" is DCGAN's 108x108
    centre crop, resized with an antialiased bicubic filter.
    """
    image = tf.convert_to_tensor(image)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    pixels = tf.cast(image, tf.float32)[tf.newaxis]
    if crop == "original":
        top, left, box_height, box_width = ORIGINAL_BOX
        pixels = tf.image.crop_to_bounding_box(
            pixels, _scaled(height, top, ALIGNED_HEIGHT), _scaled(width, left, ALIGNED_WIDTH),
            _scaled(height, box_height, ALIGNED_HEIGHT), _scaled(width, box_width, ALIGNED_WIDTH))
        if image_size < box_height:
            pixels = _gaussian_blur(pixels, math.sqrt(box_height / image_size) / 2)
        pixels = tf.image.resize(pixels, [image_size, image_size], method="bicubic",
                                 antialias=False)
    elif crop == "center108":
        side = tf.minimum(CENTER_SIDE, tf.minimum(height, width))
        pixels = tf.image.crop_to_bounding_box(pixels, (height - side) // 2, (width - side) // 2,
                                               side, side)
        pixels = tf.image.resize(pixels, [image_size, image_size], method="bicubic",
                                 antialias=True)
    else:
        raise ValueError(f"unknown crop {crop!r}")
    # Bicubic filters overshoot; clip so the output range matches Dec's tanh exactly.
    pixels = tf.clip_by_value(pixels[0], 0.0, 255.0)
    return pixels / 127.5 - 1.0


def _loader(crop: str, image_size: int):
    def load(filename: tf.Tensor, attributes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        contents = tf.io.read_file(filename)
        # A file that is not an image at all fails here with its name in the message; a damaged
        # JPEG only fails inside decode_image, whose error does not name the file.
        header = tf.strings.substr(contents, 0, 4)
        is_image = tf.logical_or(tf.strings.substr(header, 0, 2) == b"\xff\xd8",
                                 header == b"\x89PNG")
        with tf.control_dependencies([tf.debugging.Assert(is_image, ["not a JPEG or PNG image:",
                                                                     filename])]):
            image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        return preprocess(image, crop, image_size), attributes
    return load


def _flip(example: tuple[tf.Tensor, tf.Tensor], coin: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    image, attributes = example
    image = tf.cond(coin % 2 == 0, lambda: tf.image.flip_left_right(image), lambda: image)
    return image, attributes


def make_dataset(config: Config, split: str, training: bool,
                 index: CelebAIndex | None = None) -> tf.data.Dataset:
    """Batches of (images float32 [B, S, S, 3] in [-1, 1], attributes float32 [B, A]) of a split.

    training=True: shuffled (reshuffled each pass, deterministic for config.seed), randomly
    flipped, endless, full batches only. training=False: file order, one pass, last batch may be
    short. Pass `index` (from load_index) to avoid reading the annotation files again.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    index = index if index is not None else load_index(config)
    index = index.subset(np.isin(index.partition, SPLITS[split]))
    n = len(index)
    where = config.data_dir
    if n == 0:
        raise DataError(f"the {split} split of {where} has no images")
    if training and n < config.batch_size:
        raise DataError(f"the {split} split of {where} has {n} images, fewer than one batch of "
                        f"--batch_size={config.batch_size}")

    ds = tf.data.Dataset.from_tensor_slices((np.array(index.filenames), index.attributes))
    cache = n * config.image_size ** 2 * 3 * 4 <= CACHE_BYTES
    if training and not cache:
        # Shuffling file names is cheap and complete; decoding happens after.
        ds = ds.shuffle(n, seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.map(_loader(config.crop, config.image_size), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    if cache:
        ds = ds.cache()
    if not training:
        return ds.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)

    if cache:
        # A cache replays its first pass in order, so the shuffle must come after it.
        ds = ds.shuffle(min(n, config.shuffle_buffer), seed=config.seed,
                        reshuffle_each_iteration=True)
    ds = ds.repeat()
    # A seeded stream of coins, one per example: flips differ between passes yet are reproducible.
    coins = tf.data.Dataset.random(seed=config.seed + 1)
    ds = tf.data.Dataset.zip((ds, coins)).map(_flip, num_parallel_calls=tf.data.AUTOTUNE,
                                              deterministic=True)
    return ds.batch(config.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
