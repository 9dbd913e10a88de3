"""CelebA through TensorFlow Datasets (`--dataset=tfds`): the `celeb_a` builder under --data_dir.

CelebA's Google Drive links rarely serve scripted downloads, so the builder is prepared from a
manual folder holding the five original files (TFDS checks their sizes and SHA-256). Examples come
out with the JPEG still encoded (`SkipDecoding`), so they go through the same decoding, corrupt-file
handling and crops as the image files of `--dataset=celeba`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from vaegan_tf.data.celeba import ATTRIBUTES
from vaegan_tf.errors import DataError

NAME = "celeb_a"
MANUAL_FILES = ("img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt",
                "list_landmarks_align_celeba.txt", "identity_CelebA.txt")
# Our split names to TFDS's split expressions.
SPLITS = {"train": "train", "validation": "validation", "test": "test",
          "train+val": "train+validation"}


@dataclasses.dataclass(frozen=True)
class TFDSIndex:
    """A prepared TFDS celeb_a: what make_dataset needs to read a split of it."""

    builder: object  # tfds.core.DatasetBuilder
    split_sizes: dict[str, int]  # our split name -> examples; empty when TFDS does not know
    attribute_names: tuple[str, ...] = ATTRIBUTES

    def __len__(self) -> int:
        return sum(self.split_sizes.get(s, 0) for s in ("train", "validation", "test"))

    def split_size(self, split: str) -> int | None:
        return self.split_sizes.get(split)


def load(data_dir: str, manual_dir: str = "") -> TFDSIndex:
    """The celeb_a builder under `data_dir`, prepared from `manual_dir` if not prepared yet.

    manual_dir defaults to TFDS's own `<data_dir>/downloads/manual`.
    """
    import tensorflow_datasets as tfds  # imported late: it is slow and only this source needs it

    data_dir = os.path.abspath(os.path.expanduser(data_dir))
    builder = tfds.builder(NAME, data_dir=data_dir)
    if not builder.is_prepared():
        manual_dir = os.path.abspath(os.path.expanduser(
            manual_dir or os.path.join(data_dir, "downloads", "manual")))
        missing = [f for f in MANUAL_FILES if not os.path.isfile(os.path.join(manual_dir, f))]
        if missing:
            raise DataError(
                f"TFDS {NAME} is not prepared under {data_dir} and its manual folder "
                f"{manual_dir} lacks {', '.join(missing)} (CelebA's five original files; set "
                f"--tfds_manual_dir), or use --dataset=celeba on an unpacked CelebA folder")
        try:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        except tfds.download.NonMatchingChecksumError as e:
            raise DataError(f"a CelebA file in {manual_dir} is not the original "
                            f"(size or SHA-256 differs): {str(e).splitlines()[0]}") from None
        except (OSError, tf.errors.OpError) as e:
            raise DataError(f"cannot prepare TFDS {NAME} from {manual_dir}: {e}") from None
    sizes = {name: builder.info.splits[name].num_examples for name in ("train", "validation",
                                                                       "test")
             if name in builder.info.splits}
    if len(sizes) == 3:
        sizes["train+val"] = sizes["train"] + sizes["validation"]
    return TFDSIndex(builder, sizes)


def _example(features: dict) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    attributes = tf.stack([tf.cast(features["attributes"][name], tf.float32)
                           for name in ATTRIBUTES])
    return features["image"], features["tfds_id"], attributes


def examples(index: TFDSIndex, split: str, training: bool, seed: int,
             input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """(encoded JPEG bytes, a name for messages, float32 [40] attributes) of a split, one pass.

    Training reads the files in a seeded shuffled order (examples are shuffled later, by
    data.py); evaluation reads them in order.
    """
    import tensorflow_datasets as tfds

    read_config = tfds.ReadConfig(shuffle_seed=seed, add_tfds_id=True,
                                  input_context=input_context)
    try:
        ds = index.builder.as_dataset(split=SPLITS[split], shuffle_files=training,
                                      decoders={"image": tfds.decode.SkipDecoding()},
                                      read_config=read_config)
    except (ValueError, OSError, tf.errors.OpError) as e:
        raise DataError(f"cannot read the {split} split of TFDS {NAME}: {e}") from None
    missing = [n for n in ATTRIBUTES if n not in ds.element_spec["attributes"]]
    if missing:
        raise DataError(f"TFDS {NAME} lacks the attribute(s) {', '.join(missing)}")
    return ds.map(_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def attribute_table(index: TFDSIndex, split: str) -> np.ndarray:
    """float32 [N, 40] attributes of a split in reading order, without decoding any image."""
    ds = examples(index, split, training=False, seed=0).map(lambda image, name, a: a)
    return np.concatenate([np.zeros((0, len(ATTRIBUTES)), np.float32)]
                          + list(ds.batch(4096).as_numpy_iterator()))
