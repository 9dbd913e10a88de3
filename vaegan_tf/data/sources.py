"""The sources behind --dataset, read into one index type per kind (ImageIndex for files,
TFDSIndex for TFDS), and the facts about a split every layer asks: its size, its attribute names,
which attribute values mean "present"."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vaegan_tf.config import Config
from vaegan_tf.data import tfds_source
from vaegan_tf.data.celeba import read_celeba
from vaegan_tf.data.folder import read_folder
from vaegan_tf.data.index import ImageIndex
from vaegan_tf.data.lfw import read_lfw
from vaegan_tf.data.synthetic import ensure_synthetic
from vaegan_tf.data.tfds_source import TFDSIndex
from vaegan_tf.errors import DataError

SPLITS = {"train": (0,), "validation": (1,), "test": (2,), "train+val": (0, 1)}

Index = ImageIndex | TFDSIndex

# Where an attribute counts as present: CelebA's attributes (and the synthetic and TFDS copies')
# are 0/1; LFW's are Kumar et al.'s real-valued classifier scores, positive where present.
PRESENT_ABOVE = {"lfw": 0.0}


def present(config: Config, attributes):
    """0/1 float32 labels of `attributes` [..., A] (numpy or tf): 1 where an attribute is present,
    i.e. above PRESENT_ABOVE for config.dataset (0.5 for 0/1 attributes)."""
    above = PRESENT_ABOVE.get(config.dataset, 0.5)
    if isinstance(attributes, np.ndarray):
        return (attributes > above).astype(np.float32)
    return tf.cast(attributes > above, tf.float32)


def load_index(config: Config) -> Index:
    """The whole dataset named by config.dataset, drawing the synthetic one first if needed."""
    if not config.data_dir:
        raise DataError(f"--data_dir is empty; --dataset={config.dataset} needs a folder")
    if config.dataset == "tfds":
        return tfds_source.load(config.data_dir, config.tfds_manual_dir)
    if config.dataset == "lfw":
        return read_lfw(config.data_dir)
    if config.dataset == "folder":
        return read_folder(config.data_dir, config.val_fraction, config.test_fraction,
                           config.attributes_csv)
    if config.dataset == "synthetic":
        ensure_synthetic(config.data_dir, config.synthetic_images, config.seed)
    return read_celeba(config.data_dir)


def attribute_names(config: Config) -> tuple[str, ...]:
    """The labels of the attribute vectors that `make_dataset(config, ...)` yields."""
    return load_index(config).attribute_names


def require_attributes(index: Index, what: str) -> None:
    """Raises a DataError unless the images come with attributes (only a folder may lack them)."""
    if not index.attribute_names:
        raise DataError(f"{what} needs attributes, and the pictures of --dataset=folder have none: "
                        "pass --attributes_csv=FILE (a file-name column, then one 0/1 or -1/1 "
                        "column per attribute; docs/data.md)")


def split_size(index: Index, split: str) -> int | None:
    """Examples in a split (None when TFDS does not record it)."""
    if isinstance(index, TFDSIndex):
        return index.split_size(split)
    return int(np.isin(index.partition, SPLITS[split]).sum())
